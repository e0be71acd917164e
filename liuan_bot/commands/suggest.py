"""Suggest a command for free text that is not one (issue 3).

`我们下周三想开个发布会讲讲秋粮收购` is no command, but it plainly asks for a press conference:
the bot answers with the command it most likely means, pre-filled with what could be read
(time, topic), ready to copy, complete and send.

- Words come from jieba with a domain dictionary (`config/jieba-dict.txt`) and stop words
  (`config/stopwords.txt`). jieba is imported and initialised once, by `Suggester.load()`
  (at start-up or on the first suggestion, about 1 s), never when this module is imported:
  parsing a real command must not pay for it. A private `jieba.Tokenizer` is used, never the
  global `jieba.dt`, so nobody else's `add_word` changes what we see.
- Intents are scored from keywords among the words and a few phrase patterns. Explicit cues
  decide first: a record id → 详情, a progress question → 我的, a conference noun →
  申请发布会 (备案 when the unit holds it itself).
- Times come from `timeparse.find_time`, never from jieba: future for conferences and
  policies, past for incidents. A time that is found but cannot be resolved is left out and
  its question goes into `reason`.
- The topic is the best run of meaningful words once the time, intent verbs, command words
  and stop words are gone; incidents and hot issues keep the clauses that describe them.
- Names are never guessed for 发布人; a spokesperson's 姓名 only from an explicit
  `换成X` / `发言人是X`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from liuan_bot.commands.fields import RECORD_PREFIXES, parse_record_id
from liuan_bot.commands.grammar import normalise
from liuan_bot.commands.registry import CommandSpec, Registry
from liuan_bot.commands.timeparse import ParsedTime, Prefer, TimeParseError, find_time
from liuan_bot.jieba_loader import domain_tokenizer

__all__ = [
    "DEFAULT_DICT_PATH",
    "DEFAULT_STOPWORDS_PATH",
    "PLACEHOLDER",
    "Suggester",
    "Suggestion",
]

log = logging.getLogger(__name__)

_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DICT_PATH = _ROOT / "config" / "jieba-dict.txt"
DEFAULT_STOPWORDS_PATH = _ROOT / "config" / "stopwords.txt"

PLACEHOLDER = "（请填写）"
_MAX_CHARS = 300  # longer messages are read up to here
_MIN_SCORE = 2.0  # below this, nothing is suggested
_STRONG = 3.0  # a record id with a weaker intent than this means 详情


@dataclass(frozen=True)
class Suggestion:
    """The command a free-text message most likely meant, ready to copy."""

    command: str  # Chinese command word, e.g. "申请发布会"
    key: str  # canonical key, e.g. "apply"
    fields: dict[str, str]  # canonical field → value text, only what was extracted
    message: str  # command word + one "字段：值" per line, placeholders for the rest
    reason: str  # short Chinese explanation

    @property
    def reply(self) -> str:
        """The answer to the free text: why, and the command ready to copy."""
        reason = self.reason.rstrip("。")
        if "\n" not in self.message:
            return f"{reason}。可以直接发送：\n\n{self.message}"
        return f"{reason}。可以复制下面的内容，补全后发送：\n\n{self.message}"


@dataclass(frozen=True)
class _Command:
    """A command as the suggester writes it: word, fields and hints come from the command's
    grammar in the registry (issue 11 §5: one source of truth); the rest is how free text
    maps onto it."""

    word: str
    key: str
    fields: tuple[tuple[str, bool], ...]  # (canonical name, required), in grammar order
    reason: str
    time_field: str | None = None
    prefer: Prefer = "future"
    subject: str | None = None  # the field that receives the topic or the event text
    by_clause: bool = False  # subject from the clauses that describe it (incidents, hot issues)
    hints: tuple[tuple[str, str], ...] = ()  # choices shown in a placeholder: 级别 → 重大/较大…


@dataclass(frozen=True)
class _Intent:
    """What only the suggester knows about a command: why it is suggested, and which field
    takes the topic. Everything else is read from the command's grammar."""

    reason: str
    subject: str | None = None
    by_clause: bool = False


_INTENTS: dict[str, _Intent] = {
    "apply": _Intent("看起来您想申请召开发布会", "主题"),
    "file": _Intent("看起来您要为本单位自办的发布会备案", "主题"),
    "incident": _Intent("看起来您要报告一起突发事件", "事件", by_clause=True),
    "hot_issue": _Intent("看起来您要报告一条舆情", "内容", by_clause=True),
    "policy": _Intent("看起来您要报备即将公布的政策文件", "标题"),
    "risk": _Intent("看起来您要函告一项风险评估", "事项"),
    "roster": _Intent("看起来您要报送新闻发言人"),
    "training": _Intent("看起来您要登记新闻发言人培训", "课程"),
    "status": _Intent("看起来您想查看本单位事项的办理进度"),
    "detail": _Intent("看起来您想查看这件事项的详情"),
}


def _command_from_grammar(spec: CommandSpec, intent: _Intent) -> _Command:
    """The suggester's view of a registered command, derived from its grammar."""
    grammar = spec.grammar
    # of fields that stand for one another (姓名 or 企业微信账号) only the first is asked for
    others = {name for group in grammar.one_of for name in group[1:]}
    fields = tuple(
        (field.name, field.required) for field in grammar.fields if field.name not in others
    )
    timed = next((field for field in grammar.fields if field.kind == "time"), None)
    hints = tuple(
        (field.name, "/".join(field.choices))
        for field in grammar.fields
        if field.kind == "choice" and field.required and field.choices
    )
    return _Command(
        spec.name,
        spec.key,
        fields,
        intent.reason,
        timed.name if timed is not None else None,
        timed.prefer if timed is not None else "future",
        intent.subject,
        intent.by_clause,
        hints,
    )


def command_table(registry: Registry) -> dict[str, _Command]:
    """Every command the suggester may suggest, as the registry declares it."""
    return {
        key: _command_from_grammar(registry.by_key(key), intent)
        for key, intent in _INTENTS.items()
    }


# --- intent cues ----------------------------------------------------------------------------

# Keyword → weight, per intent; a word may count for several intents.
_INTENT_WORDS: dict[str, dict[str, float]] = {
    "conference": {
        "发布会": 3, "新闻发布会": 3, "吹风会": 3, "政策吹风会": 3, "记者会": 3,
        "记者见面会": 3, "通气会": 3, "新闻通气会": 3, "媒体通气会": 3, "自办发布会": 3,
        "召开": 1, "举办": 1, "举行": 1, "开会": 1, "申请": 1, "新闻发布": 2, "政务发布": 1,
        "发布": 0.5, "开个": 0.5, "自办": 2, "备案": 2, "报备": 2,
    },
    "incident": {
        "突发": 3, "突发事件": 3, "事故": 3, "安全事故": 3, "交通事故": 3, "车祸": 3,
        "火灾": 3, "火情": 3, "起火": 3, "着火": 3, "失火": 3, "爆炸": 3, "坍塌": 3,
        "垮塌": 3, "倒塌": 3, "侧翻": 3, "泄漏": 3, "山体滑坡": 3, "滑坡": 3, "泥石流": 3,
        "汛情": 3, "洪水": 3, "洪涝": 3, "内涝": 2, "险情": 3, "决堤": 3, "溃坝": 3, "管涌": 3,
        "地震": 3, "溺水": 3, "中毒": 3, "食物中毒": 3, "伤亡": 3, "死亡": 2, "受伤": 2,
        "遇难": 3, "失联": 2, "被困": 2, "人员被困": 3, "群体性事件": 3, "停电": 2,
        "停水": 2, "救援": 2, "抢险": 2, "发生": 1, "首发": 1, "续报": 2, "防汛": 1,
        "紧急": 1, "应急": 1,
    },
    "hot_issue": {
        "舆情": 3, "网络舆情": 3, "政务舆情": 3, "热点": 2, "热点问题": 2, "热搜": 3,
        "网上": 3, "网络": 2, "网友": 3, "网民": 3, "网帖": 3, "帖子": 2, "发帖": 3,
        "微博": 2, "抖音": 2, "快手": 2, "小红书": 2, "今日头条": 2, "头条": 1, "贴吧": 2,
        "百度贴吧": 2, "论坛": 2, "朋友圈": 2, "微信群": 2, "公众号": 1, "视频号": 2,
        "爆料": 3, "曝光": 2, "谣言": 3, "造谣": 3, "传言": 3, "传谣": 3, "不实": 2,
        "炒作": 2, "发酵": 2, "转发": 1, "评论": 1, "负面": 2, "12345热线": 2, "留言板": 2,
        "投诉": 2, "举报": 1, "回应": 1,
    },
    "policy": {
        "政策": 3, "新政策": 3, "新政": 3, "医保新政": 3, "政策文件": 3, "重大政策": 2,
        "文件": 2, "出台": 2, "印发": 2, "公布": 1, "发文": 2, "施行": 2, "实施": 0.5,
        "办法": 2, "管理办法": 3, "条例": 2, "实施意见": 3, "实施方案": 2, "实施细则": 3,
        "细则": 2, "规定": 1, "规范性文件": 3, "征求意见稿": 2, "政策解读": 3, "解读": 2,
    },
    "risk": {
        "风险": 3, "风险评估": 6, "社会稳定风险评估": 6, "评估": 2, "稳评": 3, "函告": 4,
        "高风险": 3, "中风险": 3, "低风险": 3,
        "敏感": 2, "敏感事项": 3, "维稳": 2, "隐患": 1, "信访": 2, "上访": 2, "征地": 1,
        "拆迁": 1, "重大举措": 2, "重大活动": 1,
    },
    "roster": {
        "发言人": 2, "新闻发言人": 2, "发言人名单": 4, "报送": 2, "名单": 3, "更换": 1,
        "换成": 1, "换人": 2, "调整": 1, "变更": 1, "联络员": 2, "手机号": 1, "职务": 1,
    },
    "training": {
        "培训": 3, "培训班": 3, "轮训": 3, "参训": 3, "学习班": 2, "课程": 1, "结业": 2,
    },
}  # fmt: skip


def _by_word(tables: dict[str, dict[str, float]]) -> dict[str, tuple[tuple[str, float], ...]]:
    """Keyword → ((intent, weight), …)."""
    inverted: dict[str, tuple[tuple[str, float], ...]] = {}
    for intent, table in tables.items():
        for word, weight in table.items():
            inverted[word] = (*inverted.get(word, ()), (intent, weight))
    return inverted


_KEYWORDS = _by_word(_INTENT_WORDS)

# Phrases that jieba may cut in several ways: matched on the text itself.
_PATTERNS: tuple[tuple[str, re.Pattern[str], float], ...] = (
    (
        "hot_issue",
        re.compile(
            r"有人(?:在)?(?:说|传|发|爆料|反映|投诉|举报|议论|质疑)|网传|刷屏|上了?热搜|被曝"
        ),
        3,
    ),
    (
        "incident",
        re.compile(
            r"[0-9一二两三四五六七八九十几多]+(?:人|名|个人)(?:死亡|受伤|遇难|失联|被困|伤亡)"
            r"|(?:死|伤)了[0-9一二两三四五六七八九十几多]+个?人"
        ),
        3,
    ),
    ("roster", re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"), 2),
    (
        "policy",
        re.compile(
            r"(?:出台|印发|公布|发布)[^，,。;；]{0,8}(?:政策|办法|方案|条例|规定|细则|意见|文件)"
        ),
        2,
    ),
)
# Order for equal scores: the more urgent first.
_PRIORITY = ("incident", "hot_issue", "conference", "policy", "risk", "roster", "training")

_CONFERENCE_NOUNS = (
    "发布会", "吹风会", "记者会", "记者见面会", "通气会",
)  # fmt: skip
_SELF_HELD = re.compile(
    r"自办|自己(?:开|办|搞|组织|召开|举办|举行)|我们自己|自行(?:召开|举办|组织)"
    r"|(?:本单位|我单位|单位里|局里|委里|办里|院里|本局|我局|本委|我委|部门里?)\s*(?:自己)?"
    r"(?:召开|举办|举行|组织|开|办|搞)|备案|报备"
)
# A question about counts (我们单位这季度开了几场？): `我的` shows the 4·2·1 progress.
_COUNT = re.compile(
    r"(?:开了|开过|办了|召开了|举办了|举行了|出席了|参加了|完成了|搞了)\s*(?:几|多少)\s*[场次个回]"
    r"|(?:几|多少)\s*[场次](?:发布会)?\s*(?:了|呢|啊|\?|$)|还差\s*(?:几|多少)"
    r"|(?:达标|完成任务|完成情况|考核情况)(?:了|没|吗|怎么样|如何|\?)"
)
_COUNT_REASON = "看起来您想了解本单位的完成情况，“我的”会列出本季度的发布会场次和4·2·1进度"
# Greetings and thanks alone: a short polite answer, no command.
_GREETING = (
    r"(?:(?:你|您|你们|您们|大家|各位|老师|领导)好|早上好|上午好|下午好|晚上好|早安|早|哈喽|嗨"
    r"|hi|hello|在吗|在不在|在么)"
)
_COURTESY = (
    r"(?:谢谢|多谢|感谢|辛苦|麻烦|有劳)(?:你们|您们|你|您|大家|各位|啦|了|哈|啊|呀|咯)*"
    r"|(?:好的|好|嗯|ok)(?=.*(?:谢|辛苦))"
)
_SMALL_TALK = re.compile(
    rf"(?:(?:{_GREETING}|{_COURTESY})(?:呀|啊|哈|吗|呢|啦)*[\s,.。!?~、…]*)+", re.IGNORECASE
)
_THANKS = re.compile(r"谢|辛苦|麻烦|有劳")
THANKS_REPLY = "不客气！有需要随时发消息给我，发送“帮助”可查看可用命令。"
GREETING_REPLY = "您好！我是六安市政务新闻发布助手，发送“帮助”可查看可用命令和示例。"


def small_talk(text: str) -> str | None:
    """The answer to a greeting or thanks alone (你好, 谢谢, 辛苦了), or None (issue 9 E3)."""
    norm = normalise(text).strip()
    if not norm or _SMALL_TALK.fullmatch(norm) is None:
        return None
    return THANKS_REPLY if _THANKS.search(norm) else GREETING_REPLY


# A question about one's own records (我们的申请批了没): 我的.
_QUERY = re.compile(
    r"(?:申请|备案|事项|审批|审核|查询|查一下|查看|查)[^，,。]{0,6}(?:进度|怎么样了|状态)"
    r"|进度(?:怎么样|如何|到哪|呢|吗|\?)|到哪(?:一步|了|儿)|批(?:了|下来|复了)(?:没|吗|没有|\?)"
    r"|审(?:批|核)(?:结果|情况|了没|通过了?(?:吗|没))|通过了?(?:吗|没有?)(?:\?|$)|办理情况"
    r"|我的(?:申请|事项|备案)|有(?:哪些|什么)待办"
)
# A conference is wanted (想开, 申请, 安排…), not only mentioned; nor already held.
_WANT = re.compile(
    r"想|要|准备|打算|计划|拟|申请|召开|举办|举行|开|办|搞|安排|组织|能不能|可以|需要|备案|报备"
)
_DONE = re.compile(r"开得|开完|开过|已经开|已召开|已举行|已经举行|结束了|很成功|圆满")
_ABOUT = re.compile(r"\s*(?:左右|前后|时许|许)")
_RECORD_START = re.compile(
    r"(?<![A-Za-z])(?:" + "|".join(RECORD_PREFIXES) + r")(?=\s*-?\s*\d)", re.IGNORECASE
)

# --- what the words are, for topics -----------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    """A set of words written as one space-separated string."""
    return frozenset(text.split())


# Intent verbs, command words and fillers that never belong to a topic.
_FUNCTION = _words(
    """想开 开 开个 开一个 开次 搞个 办个 弄 弄个 做 做个 召开 举行 组织 准备 打算
    计划 拟 拟于 申请 公布 发 报 上报 报送 报备 备案 自办 发布会 新闻发布会 吹风会 安排 能 不能
    政策吹风会 记者会 记者见面会 通气会 新闻通气会 媒体通气会 自办发布会 开会 新闻发布
    政务发布 局里 单位 本单位 我局 本局 我单位 部门 市政府新闻办 新闻办 突发 突发事件 舆情
    报告 汇报 风险 风险评估 社会稳定风险评估 社会稳定风险 评估 稳评 函告 名单 培训 要开
    属于 存在 涉及 一起 一场 一次 一项 一条 一份 一下 下
    搞一个 做一个 办一个 弄一个 能不能 可不可以 行不行 吗 呢"""
)
_INTRO = _words(
    """讲讲 讲 讲一讲 讲一下 说说 说一说 聊聊 谈谈 介绍 介绍一下 通报 发布 解读 宣传 围绕
    关于 就 针对 宣讲 推介 主题 主题是 内容 内容是 实施 施行 出台 印发 推出 推行 开展 启动
    举办 搞 办 参加"""
)
_LOCATIVE = frozenset(("在", "于", "到"))
# Nouns that end a topic when they follow one (医保新政策, 秋粮收购实施方案).
_TAIL = _words(
    """政策 新政策 新政 文件 政策文件 办法 管理办法 方案 实施方案 条例 规定 细则 实施细则
    实施意见 意见 措施 解读 政策解读 培训 培训班"""
)
# Words too general to be a topic on their own (讲讲政策, 那个事故要回应).
_GENERIC = _words(
    """事故 事件 政策 新政策 新政 文件 风险 回应 情况 问题 工作 信息 发布 解读 通报 舆情 热点
    内容 主题 事情 事项 这事 此事 那事 有关情况 相关情况 有关工作 相关工作"""
)
_JOIN = frozenset(("的", "和", "与", "及", "暨", "、", "以及", " "))
_VAGUE_TIME = _words(
    """下个月 这个月 本月 下月 下周 本周 这周 下星期 上周 上个月 上次 之前 以前 月底 月初 月中
    年底 年初 近期 近日 最近 过几天 这几天 到时候 届时 今天 明天 后天 昨天 前天 今晚 昨晚 明晚
    上午 下午 晚上 中午 早上 凌晨 刚才 刚刚 现在 目前"""
)
_TIMEISH = re.compile(
    r"^(?:(?:[0-9]{1,2}|[零〇一二两三四五六七八九十]{1,3})(?:点|时|分|号|日|月|点钟|点半)?"
    r"|点|点钟|点半|半|号|(?:周|星期|礼拜)[一二三四五六日天1-7]?"
    r"|(?:今天|明天|后天|昨天|前天|今晚|明晚|昨晚|今早|明早|上午|下午|晚上|中午|早上|凌晨)+)$"
)
_WORDISH = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
_ORG_OR_PLACE = re.compile(
    r"^[\u4e00-\u9fff]{0,12}(?:局|委员会|委|办公室|办|厅|中心|政府|单位|部门|集团|公司"
    r"|市|县|区|乡|镇|街道)$"
)
# Clause fillers trimmed at the start of an event description.
_LEADING = _words(
    """我们 我 咱们 报告 紧急 注意 领导 各位 您好 你好 请问 这边 那个 这个 就是 嗯 哦 啊 喂 在
    于 刚才 刚刚 现在 目前 突发 突发事件 舆情 情况 有个 一个 接到 收到 听说 据了解 据悉 据报
    据说"""
)
_TRAILING = _words("了 啊 呀 吧 呢 的 啦 哦 嘛 吗 哈")
# A request about the event (需要发布信息, 怎么回应): the description stops there.
_META = _words("需要 要不要 怎么 如何 请示 请问 是否 该不该 咋办 怎么办 麻烦 请")
_CLAUSE_BREAK = re.compile(r"^[，,。.;；!！?？\n:：]+$")

# --- extraction patterns -----------------------------------------------------------------------

_QUOTED = re.compile(r"[《“\"「『]([^》”\"」』\n]{2,40})[》”\"」』]")
_LABELLED = re.compile(r"(?:主题|标题|题目|议题|事项)\s*(?:是|为|:)\s*([^,，。;；\n]{2,40})")
_URL = re.compile(r"https?://[^\s，。；）]+", re.IGNORECASE)
_VENUE = re.compile(
    r"在\s*([\u4e00-\u9fff0-9A-Za-z]{2,20}(?:会议室|发布厅|报告厅|会堂|礼堂|多功能厅|演播厅"
    r"|会议中心|宾馆|酒店))"
)
# `发布人王局长`, `出席领导：…`: who speaks is theirs to write, and it is not the topic.
_SPEAKER = re.compile(r"(?:发布人|发言人|出席人|出席领导|主讲)(?:是|为|:)?\s*[^，,。;；\s]{0,10}")
_VAGUE = re.compile(
    r"(?:春节|国庆|元旦|中秋|五一|清明|端午|节假日|假期)(?:期间|前后|前|后|以后|之前)?"
    r"|(?:明年|今年|年内|年底|年初|下个?月|本月|这个月|月底|月初|下周|本周|这周|近期|近日|过几天)"
    r"(?:[0-9一二三四五六七八九十]{1,2}月份?)?(?:起|底|初|中旬|上旬|下旬|前|以后|之前)?"
    r"|(?<![0-9年])[0-9一二三四五六七八九十]{1,2}月份?(?:起|底|初|中旬|上旬|下旬)"
)
_LIVE_ASK = re.compile(r"(?:要不要|是否|需不需要|用不用|能不能|可不可以)(?:网络|现场)?直播")
_LIVE_ANY = re.compile(
    r"(?:要不要|是否|需不需要|用不用|能不能|可不可以|不|无需|不用|不需要|不要|没有|需要|要)?"
    r"(?:网络|现场)?直播"
)
_LIVE_NO = re.compile(r"(?:不|无需|不用|不需要|不要|没有)(?:网络|现场)?直播")
_LIVE_YES = re.compile(r"直播")
_LEVEL = re.compile(
    r"(特别重大|特大|重大|较大|一般)(?=[^，,。;；]{0,4}(?:事故|事件|突发|火灾|险情|汛情|灾害|伤亡|级))"
)
_RISK_KINDS = ("重大政策", "重大举措", "重大活动", "敏感事项")
_RISK_KIND = re.compile("(?:属于|是)?(?:" + "|".join(_RISK_KINDS) + ")")
_RISK_LEVEL = re.compile(
    r"([高中低])风险|风险等级\s*(?:为|是|:)?\s*([高中低])|风险(?:较|很|比较|偏)([高低])(?!于)"
)
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_TITLE = re.compile(
    r"(?:办公室|党组|党委)?(?:常务)?副?(?:局长|主任|处长|科长|县长|区长|市长|秘书长|部长|院长"
    r"|书记|总经理|调研员|站长|所长|队长|馆长|主席|总工程师|总经济师)"
)
_NAME = re.compile(
    r"(?:换成|换为|改为|改成|变更为|调整为|(?:发言人|联络员)\s*(?:是|为|:)|姓名\s*(?:是|为|:)?)\s*"
    r"([\u4e00-\u9fff]{2,3}?)(?:同志)?"
    r"(?=[,，。;；、\s]|$|了|担任|任|负责|同志|电话|手机|(?:常务)?副?(?:局长|主任|处长|科长|书记))"
)
_SOURCES = (
    ("微博", "微博"),
    ("抖音", "抖音"),
    ("快手", "快手"),
    ("小红书", "小红书"),
    ("今日头条", "今日头条"),
    ("头条", "今日头条"),
    ("贴吧", "百度贴吧"),
    ("视频号", "微信视频号"),
    ("公众号", "微信公众号"),
    ("朋友圈", "微信朋友圈"),
    ("微信群", "微信群"),
    ("12345", "12345热线"),
    ("留言板", "网络留言板"),
    ("论坛", "网络论坛"),
)
_ONLINE = ("网上", "网络", "网友", "网民", "网帖", "网传", "发帖", "热搜")
_WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_PARTS_OF_DAY = (
    ("凌晨", "凌晨"),
    ("早上", "早上"),
    ("早晨", "早上"),
    ("清晨", "早上"),
    ("今早", "早上"),
    ("明早", "早上"),
    ("上午", "上午"),
    ("中午", "中午"),
    ("下午", "下午"),
    ("午后", "下午"),
    ("傍晚", "傍晚"),
    ("晚上", "晚上"),
    ("晚间", "晚上"),
    ("夜里", "晚上"),
    ("夜间", "晚上"),
    ("今晚", "晚上"),
    ("明晚", "晚上"),
    ("昨晚", "晚上"),
    ("今夜", "晚上"),
    ("昨夜", "晚上"),
)


class _Tokenizer(Protocol):
    def lcut(self, sentence: str, cut_all: bool = False, HMM: bool = True) -> list[str]: ...


@dataclass(frozen=True)
class _Run:
    text: str
    after_intro: bool
    after_locative: bool
    position: int


# --- the suggester ----------------------------------------------------------------------------


class Suggester:
    """Reads free text and suggests a command; jieba is loaded once, on first use or `load()`."""

    def __init__(self, dict_path: Path, stopwords_path: Path, registry: Registry) -> None:
        self._commands = command_table(registry)
        self._dict_path = dict_path
        self._stopwords_path = stopwords_path
        self._lock = threading.Lock()
        self._tokenizer: _Tokenizer | None = None
        self._stopwords: frozenset[str] = frozenset()

    @staticmethod
    def small_talk(text: str) -> str | None:
        """Greetings and thanks, answered without loading jieba."""
        return small_talk(text)

    @property
    def loaded(self) -> bool:
        return self._tokenizer is not None

    def load(self) -> None:
        """Import jieba and build the tokenizer with the domain dictionary (once; thread-safe)."""
        if self._tokenizer is not None:
            return
        with self._lock:
            if self._tokenizer is not None:
                return
            started = time.perf_counter()
            stopwords = frozenset(
                line.strip().lower()
                for line in self._stopwords_path.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.lstrip().startswith("#")
            )
            tokenizer = _build_tokenizer(self._dict_path)
            self._stopwords = stopwords
            self._tokenizer = tokenizer  # published last: `loaded` means ready
            log.info("suggestions: jieba loaded in %.2f s", time.perf_counter() - started)

    def suggest(self, text: str, now: datetime) -> Suggestion | None:
        """The command `text` most likely means, or None when nothing looks like one."""
        self.load()
        tokenizer = self._tokenizer
        assert tokenizer is not None
        norm = normalise(text)[:_MAX_CHARS]
        if not norm:
            return None
        record = _find_record(norm, now.year)
        words = tokenizer.lcut(norm)
        scores = _scores(words, norm)
        best = max(_PRIORITY, key=lambda name: (scores.get(name, 0.0), -_PRIORITY.index(name)))
        best_score = scores.get(best, 0.0)

        if record is not None and (_QUERY.search(norm) or best_score < _STRONG):
            return _detail(self._commands["detail"], record[0])
        if _COUNT.search(norm):
            return _build(self._commands["status"], {}, [], _COUNT_REASON)
        if _QUERY.search(norm):
            return _build(self._commands["status"], {}, [])
        if any(noun in norm for noun in _CONFERENCE_NOUNS):
            best = "conference"
        elif best_score < _MIN_SCORE:
            return None
        key = best
        if best == "conference":
            if not _WANT.search(norm) or _DONE.search(norm):
                return None  # 发布会的稿子写好了, 上周的发布会开得很成功: no request
            key = "file" if _SELF_HELD.search(norm) else "apply"
        return self._fill(self._commands[key], norm, now, record)

    # --- filling the fields ----------------------------------------------------------------

    def _fill(
        self, command: _Command, norm: str, now: datetime, record: tuple[str, int, int] | None
    ) -> Suggestion:
        values: dict[str, str] = {}
        notes: list[str] = []
        spans: list[tuple[int, int]] = []

        if command.time_field is not None:
            try:
                found = find_time(norm, now, prefer=command.prefer)
            except TimeParseError as exc:
                notes.append(exc.message)
                spans.extend(_unresolved_time(norm, now, command.prefer))
            else:
                if found is not None:
                    parsed, start, end = found
                    values[command.time_field] = _time_label(parsed, now)
                    spans.append(_time_span(norm, start, end))
                else:
                    vague = _VAGUE.search(norm)
                    if vague is not None and vague.group(0) != "今年":
                        notes.append(f"“{vague.group(0)}”不够具体，请写明{command.time_field}。")

        for pattern in (_URL,) if command.by_clause else (_URL, _VAGUE):
            spans.extend(match.span() for match in pattern.finditer(norm))
        if record is not None:
            spans.append(record[1:])
        if command.key in ("apply", "file"):
            _conference_extras(norm, values, spans, record)
        if command.key == "hot_issue":
            _hot_issue_extras(norm, values)
        if command.key == "incident":
            level = _LEVEL.search(norm)
            if level is not None:
                values["级别"] = "特别重大" if level.group(1) == "特大" else level.group(1)
        if command.key == "roster":
            _roster_extras(norm, values)
        if command.key == "risk":
            _risk_extras(norm, values)
            for pattern in (_RISK_KIND, _RISK_LEVEL):
                spans.extend(match.span() for match in pattern.finditer(norm))

        if command.subject is not None:
            subject = self._subject(command, norm, spans)
            if subject:
                values[command.subject] = subject
        reason = command.reason
        if command.key == "apply" and values.get("类型") == "吹风会":
            reason = "看起来您想申请召开吹风会"
        return _build(command, values, notes, reason)

    def _subject(self, command: _Command, norm: str, spans: list[tuple[int, int]]) -> str:
        """The topic (or, for incidents and hot issues, the event) of the message."""
        if not command.by_clause:
            for pattern in (_QUOTED, _LABELLED):
                match = pattern.search(norm)
                if match is not None:
                    return _clean(match.group(1))
        if command.key == "hot_issue":  # its time stays: there is no time field to take it
            spans = [span for span in spans if _URL.match(norm, span[0])]
        clean = _blank(norm, spans)
        assert self._tokenizer is not None
        words = self._tokenizer.lcut(clean)
        if command.by_clause:
            intent = "incident" if command.key == "incident" else "hot_issue"
            described = self._describe(words, intent)
            if described:
                return described
        return self._topic(words)

    def _kind(self, word: str, in_run: bool) -> str:
        lower = word.lower()
        if word in _JOIN or word.isspace():
            return "join"
        if in_run and word in _TAIL:
            return "content"
        if word in _INTRO:
            return "intro"
        if word in _LOCATIVE:
            return "locative"
        if (
            word in _FUNCTION
            or lower in self._stopwords
            or word in _VAGUE_TIME
            or _TIMEISH.match(word)
            or not _WORDISH.search(word)
        ):
            return "break"
        return "content"

    def _runs(self, words: Sequence[str]) -> list[_Run]:
        runs: list[_Run] = []
        current: list[str] = []
        kinds: list[str] = []  # the kind of every word so far
        start = 0  # where the current run started

        def close() -> None:
            while current and (current[-1] in _JOIN or current[-1].isspace()):
                current.pop()
            text = _clean("".join(current))
            if len(text) >= 2:
                context = [k for k in kinds[:start] if k != "join"][-2:]
                runs.append(
                    _Run(
                        text,
                        after_intro="intro" in context,
                        after_locative=bool(context) and context[-1] == "locative",
                        position=len(runs),
                    )
                )
            current.clear()

        for word in words:
            kind = self._kind(word, bool(current))
            if kind == "content" or (kind == "join" and current):
                if not current:
                    start = len(kinds)
                current.append(word)
            else:
                if current:
                    close()
            kinds.append(kind)
        if current:
            close()
        return runs

    def _topic(self, words: Sequence[str]) -> str:
        candidates = [
            run
            for run in self._runs(words)
            if not run.after_locative
            and not _ORG_OR_PLACE.match(run.text)
            and run.text not in _GENERIC
        ]
        if not candidates:
            return ""
        best = max(
            candidates,
            key=lambda run: (len(run.text) + (8 if run.after_intro else 0), -run.position),
        )
        return best.text[:60]

    def _describe(self, words: Sequence[str], intent: str) -> str:
        """The clauses that describe what happened: those with the intent's keywords and the
        plain statements next to them, without fillers (报告、紧急) and requests (需要发布信息)."""
        pieces: list[tuple[str, bool]] = []
        clause: list[str] = []
        for word in [*words, "。"]:
            if not _CLAUSE_BREAK.match(word):
                clause.append(word)
                continue
            piece = self._trim_clause(clause, intent)
            if piece is not None:
                pieces.append(piece)
            clause = []
        if not any(keyed for _, keyed in pieces):
            return ""
        return _clean("，".join(text for text, _ in pieces))[:100]

    def _trim_clause(self, clause: list[str], intent: str) -> tuple[str, bool] | None:
        """(the clause trimmed, whether it holds a keyword), or None when it describes nothing."""
        weights = [_weight(word, intent) for word in clause]
        text = "".join(clause)
        patterned = any(name == intent and p.search(text) for name, p, _ in _PATTERNS)
        keyed = patterned or max(weights, default=0.0) >= 2
        if not keyed and any(word in _META or word in _FUNCTION for word in clause):
            return None
        last_key = max((i for i, w in enumerate(weights) if w > 0), default=len(clause) - 1)
        end = len(clause)
        for index in range(last_key + 1, len(clause)):
            if clause[index] in _META:
                end = index
                break
        kept = clause[:end]
        while kept and (kept[0].isspace() or kept[0] in _LEADING):
            if _weight(kept[0], intent) >= 2:
                break
            kept.pop(0)
        while kept and (kept[-1].isspace() or kept[-1] in _TRAILING or kept[-1] in _META):
            kept.pop()
        piece = "".join(kept).strip()
        if not keyed and (len(piece) < 4 or all(self._kind(w, False) != "content" for w in kept)):
            return None
        return (piece, keyed) if piece else None


# --- helpers ------------------------------------------------------------------------------------


def _build_tokenizer(dict_path: Path) -> _Tokenizer:
    """A private jieba tokenizer with the domain dictionary; quiet, warning-free."""
    result: _Tokenizer = domain_tokenizer(dict_path)
    return result


def _hits(word: str) -> tuple[tuple[str, float], ...]:
    """The keyword a word is, or ends with (业务培训 → 培训, 重大火灾 → 火灾)."""
    found = _KEYWORDS.get(word)
    if found is not None:
        return found
    for start in range(1, len(word) - 1):
        found = _KEYWORDS.get(word[start:])
        if found is not None:
            return found
    return ()


def _scores(words: Iterable[str], norm: str) -> dict[str, float]:
    scores: dict[str, float] = {}
    for word in words:
        for intent, weight in _hits(word):
            scores[intent] = scores.get(intent, 0.0) + weight
    for intent, pattern, weight in _PATTERNS:
        if pattern.search(norm):
            scores[intent] = scores.get(intent, 0.0) + weight
    return scores


def _weight(word: str, intent: str) -> float:
    return sum(weight for name, weight in _hits(word) if name == intent)


def _find_record(norm: str, year: int) -> tuple[str, int, int] | None:
    """The first record id in the text (`SQ-2026-0012`, `tf3`) and its span."""
    for match in _RECORD_START.finditer(norm):
        found = parse_record_id(norm[match.start() :], year)
        if found is not None:
            return found[0], match.start(), match.start() + found[1]
    return None


def _unresolved_time(norm: str, now: datetime, prefer: Prefer) -> list[tuple[int, int]]:
    """Where a time that could not be taken is (past when a future one was wanted, or the
    reverse), so it stays out of the topic; nothing when it is unreadable either way."""
    other: Prefer = "past" if prefer == "future" else "future"
    try:
        found = find_time(norm, now, prefer=other)
    except TimeParseError:
        return []
    return [] if found is None else [_time_span(norm, found[1], found[2])]


def _time_span(norm: str, start: int, end: int) -> tuple[int, int]:
    """A time's span with what rounds it off: 5点左右, 8时许."""
    about = _ABOUT.match(norm, end)
    return start, about.end() if about else end


def _blank(norm: str, spans: Iterable[tuple[int, int]]) -> str:
    """`norm` without the spans (time, links…): 金安区今天上午发生火灾 → 金安区发生火灾."""
    chars = list(norm)
    for start, end in spans:
        for index in range(start, min(end, len(chars))):
            chars[index] = ""
    return "".join(chars)


def _clean(text: str) -> str:
    """A value fit for a `字段：值` line: one line, no colon, no stray punctuation."""
    text = re.sub(r"[:\n]+", " ", text)
    text = re.sub(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])", "", text)
    text = re.sub(r"\s{2,}", " ", text)
    return text.strip(" ，,。.;；、!！?？~～“”\"'《》「」『』")


def _time_label(parsed: ParsedTime, now: datetime) -> str:
    """As written back: `12月2日（周三）10:00`, `12月2日（周三）下午`, `12月2日（周三）`."""
    at = parsed.at.astimezone(now.tzinfo)
    year = "" if at.year == now.year else f"{at.year}年"
    day = f"{year}{at.month}月{at.day}日（{_WEEKDAYS[at.weekday()]}）"
    if parsed.exact:
        return f"{day}{at:%H:%M}"
    part = next((canon for word, canon in _PARTS_OF_DAY if word in parsed.text), "")
    return day + part


def _conference_extras(
    norm: str,
    values: dict[str, str],
    spans: list[tuple[int, int]],
    record: tuple[str, int, int] | None,
) -> None:
    """类型 (吹风会), 地点 (`在…会议室`), 直播, and the incident a conference answers."""
    if "吹风会" in norm:
        values["类型"] = "吹风会"
    venue = _VENUE.search(norm)
    if venue is not None:
        values["地点"] = venue.group(1)
        spans.append(venue.span())
    spans.extend(match.span() for match in _SPEAKER.finditer(norm))
    spans.extend(match.span() for match in _LIVE_ANY.finditer(norm))
    if _LIVE_ASK.search(norm):
        pass  # a question (要不要直播): theirs to answer
    elif _LIVE_NO.search(norm):
        values["直播"] = "否"
    elif _LIVE_YES.search(norm):
        values["直播"] = "是"
    if record is not None and record[0].startswith("TF-"):
        values["事件"] = record[0]


def _hot_issue_extras(norm: str, values: dict[str, str]) -> None:
    source = next((name for word, name in _SOURCES if word in norm), None)
    if source is None and any(word in norm for word in _ONLINE):
        source = "网络"
    if source is not None:
        values["来源"] = source
    link = _URL.search(norm)
    if link is not None:
        values["链接"] = link.group(0).rstrip(".,;!?)")


def _risk_extras(norm: str, values: dict[str, str]) -> None:
    """类型 and 等级 only when written out (重大举措, 高风险), never guessed."""
    kinds = {kind for kind in _RISK_KINDS if kind in norm}
    if len(kinds) == 1:
        values["类型"] = kinds.pop()
    level = _RISK_LEVEL.search(norm)
    if level is not None:
        values["等级"] = next(group for group in level.groups() if group)


def _roster_extras(norm: str, values: dict[str, str]) -> None:
    name = _NAME.search(norm)
    if name is not None:
        values["姓名"] = name.group(1)
    title = _TITLE.search(norm)
    if title is not None:
        values["职务"] = title.group(0)
    mobile = _MOBILE.search(norm)
    if mobile is not None:
        values["手机"] = mobile.group(0)


def _detail(command: _Command, record: str) -> Suggestion:
    return Suggestion(
        command=command.word,
        key=command.key,
        fields={"编号": record},
        message=f"{command.word} {record}",
        reason=f"看起来您想查看 {record} 的详情",
    )


def _build(
    command: _Command, values: dict[str, str], notes: list[str], reason: str | None = None
) -> Suggestion:
    lines = [command.word]
    fields: dict[str, str] = {}
    hints = dict(command.hints)
    for name, required in command.fields:
        if name in values:
            fields[name] = values[name]
            lines.append(f"{name}：{values[name]}")
        elif required and name in hints:
            lines.append(f"{name}：（请填写：{hints[name]}）")
        elif required:
            lines.append(f"{name}：{PLACEHOLDER}")
    text = reason or command.reason
    if notes:
        text = f"{text}。{''.join(notes)}"
    return Suggestion(command.word, command.key, fields, "\n".join(lines), text)
