#!/usr/bin/env bash
# The pull-request review of a policy change: the checks an officer's PR must pass, then what the change does
# (semantic diff and impact against the base), written as Markdown to the job summary and to a comment body file.
# Used by .github/workflows/policy.yml and, on a temporary repository, by tests/test_policy_review.py.
#
#   tools/policy-review.sh BASE_REF [COMMENT_FILE]
#
# Environment: POLICYC (default: policyc on PATH), POLICY (default policies/shanxi), OUT (default generated),
# SYNTHETIC (households for the impact run, default 10000), GITHUB_STEP_SUMMARY (appended to when set).
# Exit status: 1 when a required check fails (check, fmt, test, build --check, version); diff and impact inform.
set -uo pipefail
base="${1:?usage: policy-review.sh BASE_REF [COMMENT_FILE]}"
comment="${2:-policy-review.md}"
policyc="${POLICYC:-policyc}"
policy="${POLICY:-policies/shanxi}"
out="${OUT:-generated}"
synthetic="${SYNTHETIC:-10000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
rows=""

# step NAME REQUIRED CMD... — runs CMD, keeps its output for the report, records ✅/❌ in the table
step() {
  local name="$1" required="$2"; shift 2
  local log="$work/$(printf '%02d' "$(ls "$work" | wc -l)").log"
  "$@" >"$log" 2>&1
  local rc=$?
  local mark="✅"
  if [ "$rc" -ne 0 ]; then
    if [ "$required" = yes ]; then mark="❌"; failed=1; else mark="⚠️"; fi
  fi
  rows+="| ${name} | ${mark} | \`$*\` |"$'\n'
  printf '%s\t%s\t%s\n' "$name" "$rc" "$log" >>"$work/steps.tsv"
  return 0
}

step "规则检查" yes "$policyc" check --policy "$policy" --format github
step "格式" yes "$policyc" fmt --policy "$policy" --check
step "示例案例" yes "$policyc" test --policy "$policy"
step "生成文件是最新的" yes "$policyc" build --policy "$policy" --out "$out" --check
step "条款覆盖" yes "$policyc" coverage --policy "$policy"
step "版本号" yes "$policyc" diff --policy "$policy" --check-version "$base"
step "语义差异" no "$policyc" diff --policy "$policy" --format md "$base"
step "影响" no "$policyc" impact --policy "$policy" --base "$base" --synthetic "$synthetic" --format md

{
  echo "## 政策变更审查（相对于 \`${base}\`）"
  echo
  echo "| 步骤 | 结果 | 命令 |"
  echo "| --- | --- | --- |"
  printf '%s' "$rows"
  while IFS=$'\t' read -r name rc log; do
    case "$name" in
      语义差异|影响)
        echo
        if [ "$rc" -eq 0 ]; then cat "$log"; else echo "### ${name}（失败）"; echo '```'; tail -n 40 "$log"; echo '```'; fi
        ;;
      *)
        if [ "$rc" -ne 0 ]; then
          echo
          echo "### ${name}（未通过）"
          echo '```'
          tail -n 60 "$log"
          echo '```'
        fi
        ;;
    esac
  done <"$work/steps.tsv"
} >"$comment"

if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  cat "$comment" >>"$GITHUB_STEP_SUMMARY"
fi
# the check's own annotations (file:line:col) reach the PR's diff view when printed to the job log
while IFS=$'\t' read -r name rc log; do
  if [ "$name" = "规则检查" ]; then cat "$log"; fi
done <"$work/steps.tsv"
exit "$failed"
