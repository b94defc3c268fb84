"""Every diagnostic code, its severity, its Chinese message and a hint. Codes are stable; docs/errors.md lists them."""

E, W = "error", "warning"

MESSAGES: dict[str, tuple[str, str, str | None]] = {
    # files and YAML
    "E0001": (E, "YAML 语法错误：{problem}", "检查缩进（只用空格）、冒号后的空格和引号是否成对"),
    "E0002": (E, "不允许使用 YAML 锚点（&）和别名（*）", "把要复用的内容直接写出来"),
    "E0003": (E, "YAML 的键必须是文字", None),
    "E0004": (E, "重复的键“{key}”", "删除或合并重复的条目"),
    "E0005": (E, "无法读取文件：{problem}", None),
    "E0006": (E, "文件不是 UTF-8 编码", "用 UTF-8 编码重新保存该文件"),
    "E0007": (E, "政策目录中没有 policy.yaml：{path}", "用 --policy 指定政策目录，例如 policies/shanxi"),
    # schema
    "E0010": (E, "{where}：{detail}", None),
    "E0011": (E, "{where}：{detail}", None),
    "E0012": (E, "{where}：{detail}", "检查字段名的拼写"),
    "E0013": (E, "{where}：{detail}", None),
    "E0014": (E, "{where}：{detail}", None),
    "E0015": (E, "{where}：{detail}", None),
    "E0016": (E, "{where}：{detail}", None),
    "E0017": (E, "{where}：{detail}", None),
    # jurisdictions
    "E0050": (E, "行政区划数据有误：{detail}", None),
    # rule syntax
    "E0101": (E, "此处不应出现“{found}”，应为：{expected}", "关键字与名称之间要用空格隔开；检查上一行是否写完整"),
    "E0102": (E, "无法识别的字符“{char}”", "规则文件中只能使用名称、数字、单位、运算符和带引号的文字；注释以 # 开头"),
    "E0103": (E, "文件在此处意外结束，应为：{expected}", "检查括号、引号或表达式是否写完整"),
    # parameters
    "E0201": (E, "参数“{id}”重复定义（另见 {other}）", "每个参数只能在一个文件中定义一次"),
    "E0202": (E, "参数中文名称“{name}”与参数“{other}”重复", "规则按中文名称引用参数，名称必须唯一"),
    "E0203": (E, "参数“{id}”的起始日期 {date} 不晚于上一个取值的起始日期 {previous}", "按时间先后排列取值，每个日期只能出现一次"),
    "E0204": (E, "参数“{id}”的取值 {value!s} 不符合其类型：{detail}", None),
    "E0205": (E, "参数“{id}”的取值 {value!s} 超出允许范围 {bound}", None),
    "E0206": (E, "日期 {value} 无效", "日期写作 YYYY-MM-DD，例如 2024-01-01"),
    # names
    "E0301": (E, "未定义的名称“{name}”", None),
    "E0302": (E, "名称“{name}”重复定义（另见 {other}）", "为其中一个换一个名称"),
    "E0303": (E, "标识“{ident}”重复使用（另见 {other}）", "英文标识在同一范围内必须唯一"),
    "E0304": (E, "英文标识“{ident}”格式不对", "标识只能由小写英文字母、数字和下划线组成，且以字母开头，例如 monthly_amount"),
    "E0305": (E, "未定义的类型“{name}”", None),
    "E0306": (E, "“{record}”没有字段“{name}”", None),
    "E0307": (E, "未知的函数“{name}”", None),
    "E0308": (E, "定义之间存在循环依赖：{cycle}", "拆开循环：其中至少一个定义不能依赖其余定义"),
    "E0309": (E, "{what}必须写在“程序”声明之后", "在文件开头写：程序 名称 (标识) 依据 \"条款\""),
    "E0310": (E, "“{name}”不是“{enum}”的取值", None),
    "E0311": (E, "“{name}”需要英文标识", "在名称后用括号写出英文标识，例如 {name} (my_value)"),
    "E0312": (E, "函数“{name}”需要 {expected} 个参数，实际给了 {given} 个", None),
    "E0313": (E, "输入字段 {ident} 与已有字段同名，逐个计算的定义不能覆盖输入字段", None),
    "E0314": (E, "逐个输出的记录“{record}”没有文本字段 id", "为该记录加一个字段：编号 (id): 文本，输出以它为键"),
    # types and units
    "E0401": (E, "“{op}”不能用于 {left} 和 {right}", None),
    "E0402": (E, "声明的类型是 {declared}，但表达式的类型是 {actual}", None),
    "E0403": (E, "{what}必须是“是否”（真/假）类型，实际是 {actual}", None),
    "E0404": (E, "“{what}”可能没有值（类型 {actual}），不能直接用于{use}", "先用 有(…) 判断，例如“有(x) 且 x 低于 …”，或用 缺省(x, 默认值)"),
    "E0405": (E, "不带单位的数字不能与 {other} 比较或运算", "为数字写明单位，例如 60 岁、0 元/月、6 个月"),
    "E0406": (E, "未知的单位“{unit}”", "可用单位：元/月、元/年、元、倍、%、月、个月、年、岁、人"),
    "E0407": (E, "决策表各行结果的类型不一致：{first} 与 {other}", None),
    "E0408": (E, "舍入方式必须是取值为 {modes} 的参数", None),
    "E0409": (E, "“{name}”的第一个参数必须是列表，实际是 {actual}", None),
    "E0410": (E, "理由文字中的“{{{text}}}”无法解析", "花括号中写名称或字段，例如 {{人均月收入}}；要显示花括号本身请写 {{{{ 和 }}}}"),
    "E0411": (E, "决策表“{name}”没有“其余”行，也没有声明可为空的结果类型", "加一行：其余 => …"),
    "E0412": (E, "查表的第一个参数必须是表格参数，“{name}”不是", None),
    "E0413": (E, "查表的键应为 {expected}，实际是 {actual}", None),
    "E0414": (E, "按年/按月换算只用于金额，实际是 {actual}", None),
    # citations
    "E0501": (E, "引用的条款“{citation}”不存在", None),
    "E0502": (E, "引用的来源文件“{source}”未在 policy.yaml 中登记", "在 policy.yaml 的 sources 中登记该文件及其条款"),
    # cases
    "E0601": (E, "案例“{case}”的输入有误：{path}：{problem}", None),
    "E0602": (E, "案例“{case}”的地区“{locality}”无法识别：{problem}", None),
    "E0603": (E, "案例“{case}”期望的输出“{key}”不存在", "可用的输出：{available}"),
    "E0604": (E, "案例“{case}”临时改用的参数“{id}”{problem}", None),
    "E0605": (E, "案例名称“{case}”重复（另见 {other}）", "每个案例名称须唯一，以便报告失败的案例"),
    # constraints between parameters
    "E0701": (E, "{name}（{id}）自 {date} 起为 {value}，{relation} {expr} = {bound}（实施意见措辞：{wording}，依据 {citation}）",
              "调整该取值，使其符合约束"),
    "E0702": (E, "约束表达式中的参数“{id}”不存在", None),
    "E0703": (E, "约束表达式中的参数“{id}”不是数值参数", None),
    "W0401": (W, "{name}（{id}）自 {date} 起为 {value}，{relation} {expr} = {bound}（实施意见措辞：{wording}，依据 {citation}）",
              "调整该取值；确有理由低于（高于）的，在该约束下写明 reason，作为例外记录"),
    # emergencies and funding
    "E0801": (E, "突发事件标识“{id}”重复（另见 {other}）", None),
    "E0802": (E, "应急期最后一日 {end} 早于起始日 {start}", None),
    "E0803": (E, "无法识别的地区“{locality}”", None),
    "E0804": (E, "参数“{id}”不存在", None),
    "E0805": (E, "参数“{id}”在 {year} 年没有有效取值", None),
    "E0806": (E, "{locality} {year} 年从社会救助专项资金中安排的政府购买服务经费 {purchase} 元，超过专项资金总额 {total} 元的 {ratio}%（{limit} 元）",
              "实施意见 二(五)19：不得超过当年社会救助专项资金总额的 2%；调减购买服务经费或改由其他经费安排"),
    # warnings
    "W0301": (W, "参数“{id}”没有被任何规则使用", "删除该参数，或在规则中引用它"),
}
