"""Properties of every piece for any record: texts of 0 to ~5000 characters, built from
realistic sentences of press releases and random Chinese characters.

Every limit of every channel holds; no tag is a stop word, a number or a date; radio/TV has
no link; a Weibo post has at least one #话题# when there is anything to say; prose never ends
in the middle of a sentence unless it ends with "……"; no paragraph exceeds WeCom's 2048 bytes.
"""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liuan_bot.clock import SHANGHAI
from liuan_bot.messages import TEXT_MAX_BYTES
from liuan_bot.relay import ChannelSpec, Composer, Piece, ReleaseFacts

POOL = (
    "今年我市秋粮收购从10月1日开始，至2027年3月31日结束。",
    "中晚籼稻最低收购价为每斤1.26元，与去年持平；粳稻最低收购价为每斤1.31元。",
    "其中，霍邱县、舒城县收购网点数量最多。",
    "自2027年1月1日起，城乡居民医保财政补助标准每人每年提高30元，个人缴费标准保持不变。",
    "参保群众可通过“皖事通”APP、微信公众号等渠道办理缴费，详见https://ybj.luan.gov.cn/jf/2027.html。",
    "今年以来，全市新增城镇就业2.8万人，城镇调查失业率控制在5.5%以内。",
    "汛期预计降水偏多二至三成，淠河、史河可能发生较大洪水，请沿河群众密切关注预警信息！",
    "各地要加强对病险水库、山洪灾害易发区的巡查值守，发现险情立即报告。",
    "活动时间为每天8:30—17:30，市民可凭身份证免费参观。",
    "一、收购时间",
    "（二）资金保障",
    "1. 严格执行国家最低收购价政策，不得压级压价。",
    "此外，市里还将安排专项资金2000万元，用于支持老旧小区改造和城市更新项目建设。",
    "营商环境评价中，我市“获得电力”“登记财产”两项指标进入全省前三位？",
    "据统计，前三季度全市地区生产总值同比增长6.1%，高于全省平均水平0.4个百分点。",
    "截至9月底，全市累计发放创业担保贷款12.6亿元，扶持创业1.1万人，带动就业3.4万人，"
    "其中返乡创业农民工占比超过四成，金寨县、霍山县、舒城县、霍邱县、金安区、裕安区、叶集区"
    "均设立了创业服务窗口，提供政策咨询、项目推介、融资对接、场地保障等一站式服务",
    "The English summary is available online.",
    "咨询电话：0564-3370000",
    "六安瓜片、霍山黄芽等特色茶叶品牌价值持续提升",
    "他强调，要把安全生产责任落实到每一个岗位、每一名员工。",
)
TOPICS = (
    "2026年秋粮收购政策解读",
    "《六安市城乡居民基本医疗保险实施办法》新闻发布会",
    "全市防汛抗旱工作情况",
    "前三季度全市经济运行情况新闻发布会",
    "优化营商环境“十条措施”政策吹风会",
    "就业创业",
)
UNITS = ("市财政局", "市医保局", "市水利局", "市统计局", "市发展改革委", "市人力资源社会保障局")
SPEAKERS = (
    "市财政局党组书记、局长 郑学军",
    "党组成员、副局长 鲍克勤",
    "市医保局副局长 刘芳",
    "新闻发言人 王强",
    "市水利局总工程师 陈明",
)
CJK = (0x4E00, 0x9FFF)
URL = re.compile(r"https?://|www\.", re.I)
ENDS = re.compile(r"(?:[。！？；!?;.]|……|…)[”’」』）)】》\"']*$")
TAG = re.compile(r"#([^#\s]+)#")


def _random_cjk(rng: random.Random, size: int) -> str:
    return "".join(chr(rng.randint(*CJK)) for _ in range(size))


def _text(rng: random.Random, length: int, mode: str) -> str:
    """About `length` characters: pool sentences, random CJK, or both, with line breaks."""
    chunks: list[str] = []
    total = 0
    while total < length:
        if mode == "pool" or (mode == "mixed" and rng.random() < 0.6):
            chunk = rng.choice(POOL)
            if not chunk.endswith(("。", "！", "？", ".")) and rng.random() < 0.8:
                chunk = f"\n{chunk}\n"  # headings, bullets, lists: mostly on their own line
        elif mode == "cjk":
            chunk = _random_cjk(rng, rng.randint(1, max(1, length - total)))
        else:
            chunk = _random_cjk(rng, rng.randint(1, 120)) + rng.choice(
                ("。", "，", "；", "", "！")
            )
        chunks.append(chunk)
        total += len(chunk)
        if rng.random() < 0.15:
            chunks.append("\n")
    return "".join(chunks)[: max(length, 0)] if mode == "cjk" else "".join(chunks)


@st.composite
def records(draw: st.DrawFn) -> ReleaseFacts:
    seed = draw(st.integers(0, 2**32 - 1))
    rng = random.Random(seed)
    length = draw(st.one_of(st.integers(0, 200), st.integers(200, 1500), st.integers(1500, 5000)))
    mode = draw(st.sampled_from(("pool", "cjk", "mixed")))
    topic = draw(
        st.one_of(
            st.sampled_from(TOPICS), st.builds(lambda n: _random_cjk(rng, n), st.integers(1, 90))
        )
    )
    link = "https://www.luan.gov.cn/xwfb/fbh/20261015/{}.html"
    return ReleaseFacts(
        record_id=f"SQ-2026-{seed % 9999:04d}",
        topic=topic,
        unit=draw(st.sampled_from(UNITS)),
        held_at=datetime(2026, 1, 1, 9, 0, tzinfo=SHANGHAI) + timedelta(minutes=seed % 500000),
        venue=draw(st.sampled_from(("市政府新闻发布厅", "市财政局三楼会议室", ""))),
        speakers=tuple(draw(st.lists(st.sampled_from(SPEAKERS), max_size=4, unique=True))),
        key_points=_text(rng, length, mode),
        transcript_url=draw(st.sampled_from((link.format("sl"), ""))),
        video_url=draw(st.sampled_from((link.format("sp"), ""))),
        live=draw(st.booleans()),
        expert_interpretation=draw(
            st.sampled_from(("", "专家认为，这项政策稳定了农民预期。", _text(rng, 600, "mixed")))
        ),
        directory_url=draw(st.sampled_from(("https://www.luan.gov.cn/xwfb/fyr/", ""))),
    )


def _prose(piece: Piece, template: str) -> list[str]:
    """The parts of a piece that are running text and must end at a sentence end."""
    names = {
        "newspaper": ("lead",),
        "radio_tv": ("script",),
        "portal": ("summary",),
        "news_site": ("summary", "expert"),
        "weibo": ("body",),
        "wechat": ("digest",),
        "new_media": tuple(name for name, _ in piece.parts if name.startswith("point")),
    }[template]
    found = [piece.part(name) for name in names]
    if template in ("newspaper", "portal"):
        found += piece.part("body").split("\n\n")
    return [text for text in found if text]


def check_piece(piece: Piece, channel: ChannelSpec, stopwords: frozenset[str]) -> None:
    limits = channel.limits
    text = piece.text
    assert text, channel.key
    assert len(text) <= limits["max_chars"], (channel.key, len(text))
    for name, limit in limits.items():
        if name.endswith("_max") and name not in ("point_max", "item_max", "tags_max"):
            part = piece.part(name.removesuffix("_max"))
            assert len(part) <= limit, (channel.key, name, part)
    if channel.template == "news_site":
        for name in ("summary", "expert"):
            assert len(piece.part(name)) <= limits["item_max"], (channel.key, name)
    if channel.template == "new_media":
        points = [value for name, value in piece.parts if name.startswith("point")]
        assert len(points) <= limits["points_max"]
        assert all(len(point) <= limits["point_max"] for point in points)
    for part in _prose(piece, channel.template):
        assert ENDS.search(part), (channel.key, part[-30:])
    for paragraph in text.split("\n\n"):
        assert len(paragraph.encode()) <= TEXT_MAX_BYTES, channel.key
    for name, value in piece.parts:
        if name not in ("body",):
            assert value in text, (channel.key, name)
    if channel.template == "radio_tv":
        assert not URL.search(text), text
    if channel.template == "weibo":
        tags = TAG.findall(text)
        assert 1 <= len(tags) <= limits["tags_max"], text
        for tag in tags:
            assert tag.lower() not in stopwords
            assert not re.search(r"\d", tag)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(facts=records())
def test_every_limit_holds_for_every_channel(
    composer: Composer,
    channels: tuple[ChannelSpec, ...],
    stopwords: frozenset[str],
    facts: ReleaseFacts,
) -> None:
    pieces = composer.compose_all(facts, channels)
    for piece, channel in zip(pieces, channels, strict=True):
        assert piece.channel == channel.key
        check_piece(piece, channel, stopwords)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    length=st.integers(0, 3000),
    mode=st.sampled_from(("pool", "cjk", "mixed")),
    k=st.integers(0, 12),
)
def test_keywords_are_never_stop_words_numbers_or_dates(
    composer: Composer, stopwords: frozenset[str], seed: int, length: int, mode: str, k: int
) -> None:
    words = composer.keywords(_text(random.Random(seed), length, mode), k)
    assert len(words) <= k
    assert len(set(words)) == len(words)
    for word in words:
        assert word.lower() not in stopwords
        assert re.fullmatch(r"[\u4e00-\u9fff]{2,8}", word), word
        assert not re.search(r"[0-9零〇一二两三四五六七八九十]+[年月日号时点]$", word)
