"""The relay after a conference is held (issue 5; R19–R23): one piece per configured channel.

From a held conference's record (`ReleaseFacts`) the `Composer` writes, per channel template:

- `newspaper` (R19, 皖西日报"政务发布"): headline, lead (导语), body paragraphs;
- `radio_tv` (R20): a spoken script, ≤ `max_chars`, no links, nothing unreadable aloud;
- `portal` (R21): 标题 / 摘要 / 正文 / links; a `county` channel gets the repost notice for
  the county sites instead, with the same entry;
- `news_site` (R21): special-page items: preview, transcript, video, spokesperson directory,
  expert interpretation (items without a link or text are left out);
- `weibo` (R22): one post with `#话题#` tags, ≤ `max_chars` counted with `len()`;
- `wechat` (R22): 标题 ≤ `title_max`, 摘要 ≤ `digest_max`, 原文链接;
- `new_media` (R22): a task list for micro-video, H5 and infographic, with the key points.

Keywords, tags and the lead come from the text with jieba's TF-IDF (`engine.py`); sentences
are scored by the keywords they hold and kept whole (`text.py`): a piece never ends in the
middle of a sentence unless it ends with "……".

`Piece.text` is what an editor receives, ready to publish. Every limit of the channel holds
(`max_chars` is the whole text). It is NOT bounded to WeCom's 2048 bytes: a newspaper or portal
piece may be longer, and the caller sends it with `liuan_bot.messages.text_to_users` (or
`split_text`), which splits it between paragraphs; no paragraph exceeds 2048 bytes.
`Piece.parts` names the fields an editor copies (title, lead, summary, digest, …).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from liuan_bot.clock import SHANGHAI
from liuan_bot.relay.channels import ChannelSpec
from liuan_bot.relay.engine import Engine, load_engine
from liuan_bot.relay.text import URL, clip, clip_sentence, normalise, sentences

__all__ = ["Composer", "Piece", "ReleaseFacts"]

log = logging.getLogger(__name__)

PARAGRAPH_MAX = 500  # characters: ≤ 2000 bytes even in 4-byte characters
_PARAGRAPH_SOFT = 220  # sentences of one input paragraph are grouped up to about this
# TF-IDF reads the topic and the first sentences of 要点 up to this many characters: a release
# rarely has more, the tags do not change beyond it, and jieba's cost grows with the length
# (~7 ms per 1000 characters of unusual text). Every sentence is still scored and used.
_ANALYSED = 3000
_RUN = re.compile(r"[^\s。！？；，、：]{120}")  # broken up for TF-IDF: jieba's HMM is quadratic
_PICK_FLOOR = 0.25  # a summary leaves out sentences scoring below this share of the best
_WEEKDAYS = "一二三四五六日"
_CONFERENCE_NOUN = re.compile(
    r"(?:新闻发布会|发布会|政策吹风会|吹风会|记者见面会|记者会|新闻通气会|媒体通气会|通气会)$"
)
_POLICY_NOUN = re.compile(r"(?:政策|办法|方案|意见|细则|规定|条例|措施|规划|通知)$")
_DEPENDENT = re.compile(
    r"^(?:其中|此外|同时|另外|对此|为此|此前|因此|所以|但是?|而且?|并且?|与此同时|这|该|上述|以上"
    r"|其|他们?|她们?|它们?|对于这)"
)
_UNSPEAKABLE = re.compile(r"链接|网址|扫码|扫描|二维码|点击|下载|登录|网站|公众号")
_PARENTHESES = re.compile(r"（[^（）]*）|\([^()]*\)")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*[%％]")
_CLOCK = re.compile(r"(?<!\d)([01]?\d|2[0-3])[:：]([0-5]\d)(?!\d)")
_RANGE = re.compile(r"(?<![\d-])([1-9]\d{0,3}|0)\s*[~～\-—–]+\s*(?=\d{1,4}(?![\d-]))")


@dataclass(frozen=True)
class ReleaseFacts:
    """What the relay knows of a held conference."""

    record_id: str
    topic: str
    unit: str
    held_at: datetime
    venue: str
    speakers: tuple[str, ...]  # "市财政局局长 郑学军": title, space, name (as available)
    key_points: str  # 要点
    transcript_url: str  # 实录
    video_url: str  # 视频
    live: bool
    expert_interpretation: str = ""
    directory_url: str = ""


@dataclass(frozen=True)
class Piece:
    """One channel's material. `text` is the whole message (may exceed 2048 bytes: the caller
    splits it between paragraphs with `messages.split_text`); `parts` are its named fields."""

    channel: str
    title: str
    text: str
    parts: tuple[tuple[str, str], ...] = ()

    def part(self, name: str) -> str:
        return next((value for key, value in self.parts if key == name), "")


@dataclass(frozen=True)
class _Sentence:
    index: int
    paragraph: int
    text: str
    score: float
    dependent: bool  # opens with 其中/此外/该…: reads well only after the one before it


class Composer:
    """Writes each channel's piece of a held conference; jieba is loaded once, by `load()`."""

    def __init__(self, dict_path: Path, stopwords_path: Path) -> None:
        self._dict_path = dict_path
        self._stopwords_path = stopwords_path
        self._lock = threading.Lock()
        self._engine: Engine | None = None

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def load(self) -> None:
        """Import jieba and build the tokenizer and TF-IDF extractor (once; thread-safe)."""
        if self._engine is not None:
            return
        with self._lock:
            if self._engine is not None:
                return
            started = time.perf_counter()
            engine = load_engine(self._dict_path, self._stopwords_path)
            self._engine = engine  # published last: `loaded` means ready
            log.info("relay: jieba loaded in %.2f s", time.perf_counter() - started)

    def _ready(self) -> Engine:
        self.load()
        assert self._engine is not None
        return self._engine

    def keywords(self, text: str, k: int = 5) -> list[str]:
        """The `k` best TF-IDF keywords of `text` that make good tags, best first."""
        if k <= 0:
            return []
        return [word for word, _ in self._ready().ranked(normalise(text))[:k]]

    def compose(self, facts: ReleaseFacts, channel: ChannelSpec) -> Piece:
        return _Writer(self._ready(), facts).piece(channel)

    def compose_all(self, facts: ReleaseFacts, channels: Sequence[ChannelSpec]) -> list[Piece]:
        """Every channel's piece; the text is analysed once for all of them."""
        writer = _Writer(self._ready(), facts)
        return [writer.piece(channel) for channel in channels]


class _Writer:
    """One conference, analysed once; writes the piece of any channel."""

    def __init__(self, engine: Engine, facts: ReleaseFacts) -> None:
        self.engine = engine
        self.facts = facts
        self.cut = engine.cut
        topic = _plain(facts.topic)
        self.unit = self._fragment(_plain(facts.unit) or "有关单位", 30)
        self.venue = self._fragment(_plain(facts.venue), 40)
        self.conference = self._fragment(_conference(topic) if topic else "新闻发布会", 60)
        core, verb = _core(topic)
        self.core = self._fragment(core, 50)
        self.headline = (
            f"{self.unit}{verb}{self.core}" if self.core else f"{self.unit}召开新闻发布会"
        )
        self.speakers = self._fragment(_speakers(facts.speakers, "，", self.unit), 120)
        self.when = _when(facts.held_at)
        found: dict[str, int] = {}  # each sentence once, where it first appears
        for text, paragraph in sentences(facts.key_points):
            found.setdefault(text, paragraph)
        analysed = _RUN.sub(r"\g<0>\n", (f"{topic}。" + "".join(found))[:_ANALYSED])
        ranked, top = engine.analyse(analysed, topic)
        self.tags = [word for word, _ in ranked]
        self.sentences = [
            _Sentence(
                index=i,
                paragraph=paragraph,
                text=text,
                score=_score(text, top, i),
                dependent=bool(_DEPENDENT.match(text)),
            )
            for i, (text, paragraph) in enumerate(found.items())
        ]
        self.lead = self._lead()

    # --- shared pieces -------------------------------------------------------------------

    def _fragment(self, text: str, room: int) -> str:
        """A name-like fragment (unit, venue, topic) cut to `room` between words."""
        if len(text) <= room:
            return text
        return clip_sentence(text, room, self.cut)

    def standalone(self) -> list[_Sentence]:
        """Sentences that stand on their own, and that nothing after them needs."""
        count = len(self.sentences)
        return [
            s
            for s in self.sentences
            if not s.dependent
            and not (s.index + 1 < count and self.sentences[s.index + 1].dependent)
        ]

    def _lead(self) -> _Sentence | None:
        """The lead sentence: the best scored of those that stand on their own."""
        return max(self.standalone(), key=lambda s: s.score, default=None)

    def event(self, *, venue: bool = False) -> str:
        """9月24日上午，市财政局（在市政府新闻发布厅）召开2026年秋粮收购政策解读新闻发布会。"""
        where = f"在{self.venue}" if venue and self.venue else ""
        return f"{self.when}，{self.unit}{where}召开{self.conference}。"

    def attendance(self) -> str:
        if not self.speakers:
            return ""
        return f"{self.speakers}出席发布会，介绍有关情况并回答记者提问。"

    def pick(
        self, room: int, pool: Sequence[_Sentence] | None = None, most: int | None = None
    ) -> list[_Sentence]:
        """The best sentences that fit together in `room`, in text order; a sentence that
        needs the one before it only with it; none that says much less than the best (filler
        such as a phone number). Nothing fits: [] (see `best_cut`)."""
        pool = self.sentences if pool is None else pool
        chosen: dict[int, _Sentence] = {}
        used = 0
        floor = max((s.score for s in pool), default=0.0) * _PICK_FLOOR
        for s in sorted(pool, key=lambda s: (-s.score, s.index)):
            if most is not None and len(chosen) >= most:
                break
            if (s.dependent and s.index - 1 not in chosen) or s.score < floor:
                continue
            if used + len(s.text) <= room:
                chosen[s.index] = s
                used += len(s.text)
        return sorted(chosen.values(), key=lambda s: s.index)

    def best_cut(self, room: int, pool: Sequence[_Sentence] | None = None) -> str:
        """The best sentence, cut to `room` (after a comma, else between words, + "……")."""
        pool = self.sentences if pool is None else pool
        best = max((s for s in pool if not s.dependent), key=lambda s: s.score, default=None)
        return "" if best is None else clip_sentence(best.text, room, self.cut)

    def summary(self, room: int, pool: Sequence[_Sentence] | None = None) -> str:
        chosen = self.pick(room, pool)
        return "".join(s.text for s in chosen) if chosen else self.best_cut(room, pool)

    def links(self) -> list[str]:
        lines = []
        if self.facts.transcript_url.strip():
            lines.append(f"文字实录：{self.facts.transcript_url.strip()}")
        if self.facts.video_url.strip():
            label = "直播回放" if self.facts.live else "视频回放"
            lines.append(f"{label}：{self.facts.video_url.strip()}")
        return lines

    def paragraphs(
        self, pool: Sequence[_Sentence], room: int, first_prefix: str = ""
    ) -> list[str]:
        """The sentences of `pool` in order, grouped into paragraphs as written (long ones
        split), until `room` (characters, counting two per paragraph break) is used up."""
        paragraphs: list[str] = []
        current = ""
        current_para = -1
        used = 0
        for n, s in enumerate(pool):
            text = s.text
            if n == 0 and first_prefix and not text.startswith(("据", first_prefix)):
                text = first_prefix + text
            text = clip_sentence(text, PARAGRAPH_MAX, self.cut)
            breaks = bool(current) and (
                s.paragraph != current_para or len(current) + len(text) > _PARAGRAPH_SOFT
            )
            cost = len(text) + (2 if breaks or not current else 0)
            if used + cost > room:
                break
            if breaks:
                paragraphs.append(current)
                current = ""
            current += text
            current_para = s.paragraph
            used += cost
        if current:
            paragraphs.append(current)
        return paragraphs

    # --- templates -------------------------------------------------------------------------

    def piece(self, channel: ChannelSpec) -> Piece:
        render = {
            "newspaper": self.newspaper,
            "radio_tv": self.radio_tv,
            "portal": self.portal,
            "news_site": self.news_site,
            "weibo": self.weibo,
            "wechat": self.wechat,
            "new_media": self.new_media,
        }[channel.template]
        return render(channel)

    def title(self, text: str, room: int) -> str:
        return text if len(text) <= room else clip_sentence(text, room, self.cut)

    def newspaper(self, channel: ChannelSpec) -> Piece:
        title = self.title(self.headline, channel.limit("title_max"))
        lead_max = channel.limit("lead_max")
        event = self.event()
        event = "本报讯　" + event
        prefix = "记者从发布会上获悉，"
        room = lead_max - len(event) - len(prefix)
        fitting = [s for s in self.standalone() if len(s.text) <= room]
        chosen = max(fitting, key=lambda s: s.score, default=None)
        if chosen is not None:
            lead = event + prefix + chosen.text
        elif self.lead is not None and room >= 30:
            chosen = self.lead
            lead = event + prefix + clip_sentence(self.lead.text, room, self.cut)
        else:
            lead = clip(event, lead_max, self.cut)
        pool = [s for s in self.sentences if chosen is None or s.index != chosen.index]
        pool = [s for n, s in enumerate(pool) if not (n == 0 and s.dependent)]
        closing = []
        if self.speakers:
            closing.append(f"发布会上，{self.speakers}回答了记者提问。")
        online = "和".join(
            name
            for name, url in (
                ("文字实录", self.facts.transcript_url),
                ("视频", self.facts.video_url),
            )
            if url.strip()
        )
        if online:
            closing.append(f"发布会{online}可登录六安市人民政府网站“新闻发布”栏目查看。")
        closing_text = "".join(closing)
        fixed = len(title) + 2 + len(lead) + (2 + len(closing_text) if closing_text else 0)
        room = channel.limit("max_chars") - fixed
        if len(closing_text) > PARAGRAPH_MAX or room < 0:
            closing_text = ""
            room = channel.limit("max_chars") - len(title) - 2 - len(lead)
        body = self.paragraphs(pool, room, "据介绍，")
        blocks = [title, lead, *body, *([closing_text] if closing_text else [])]
        text = "\n\n".join(blocks)
        parts = (("title", title), ("lead", lead), ("body", "\n\n".join(body)))
        return Piece(channel.key, title, text, parts)

    def radio_tv(self, channel: ChannelSpec) -> Piece:
        room = channel.limit("max_chars")
        opening = "本台消息："
        event = _spoken(self.event())
        pool = [
            _Sentence(s.index, s.paragraph, spoken, s.score, s.dependent)
            for s in self.sentences
            if (spoken := _spoken(s.text)) and not _UNSPEAKABLE.search(s.text)
        ]
        heard = "记者从发布会上了解到，"
        head = opening + event
        if len(head) > room:
            head = clip(head, room, self.cut)
        left = room - len(head) - len(heard)
        chosen = self.pick(left, pool)
        cut = "" if chosen or left < 30 else self.best_cut(left, pool)
        if chosen:
            script = head + heard + "".join(s.text for s in chosen)
        elif cut:
            script = head + heard + cut
        else:
            attendance = _spoken(self.attendance())
            script = head + (attendance if len(head) + len(attendance) <= room else "")
        script = _no_links(script)
        title = self.title(_no_links(_spoken(self.headline)), room)
        return Piece(channel.key, title, script, (("script", script),))

    def portal(self, channel: ChannelSpec) -> Piece:
        title = self.title(self.conference, channel.limit("title_max"))
        summary_max = channel.limit("summary_max")
        event = self.event()
        if len(event) >= summary_max - 20:
            summary = clip(event, summary_max, self.cut)
        else:
            summary = event + self.summary(summary_max - len(event))
        links = self.links()
        if channel.county:
            return self._county(channel, title, summary, links)
        opening = self.event(venue=True)
        if self.speakers:
            opening = opening[:-1] + f"，{self.attendance()}"
        opening = clip(opening, PARAGRAPH_MAX, self.cut)
        head = [f"标题：{title}", f"摘要：{summary}", "正文："]
        fixed = sum(len(line) + 1 for line in head) + len(opening)
        tail = "\n".join(links)
        room = channel.limit("max_chars") - fixed - (2 + len(tail) if tail else 0)
        if room < 0:
            tail, room = "", channel.limit("max_chars") - fixed
        body = self.paragraphs(self.sentences, room)
        text = "\n".join(head) + "\n" + "\n\n".join([opening, *body, *([tail] if tail else [])])
        text = _within(text, channel.limit("max_chars"))
        parts = (("title", title), ("summary", summary), ("body", "\n\n".join([opening, *body])))
        return Piece(channel.key, title, text, parts)

    def _county(self, channel: ChannelSpec, title: str, summary: str, links: list[str]) -> Piece:
        notice = (
            f"{self.when}，{self.unit}召开{self.conference}。请在本网站“新闻发布”栏目及时转载，"
            "并注明来源“六安市人民政府网站”。"
        )
        notice = clip(notice, PARAGRAPH_MAX, self.cut)
        lines = [f"标题：{title}", f"摘要：{summary}"]
        lines += [line.replace("文字实录：", "原文链接：", 1) for line in links]
        text = "各县区人民政府网站：\n" + notice + "\n\n" + "\n".join(lines)
        text = _within(text, channel.limit("max_chars"))
        parts = (("title", title), ("summary", summary), ("notice", notice))
        return Piece(channel.key, f"转载通知：{title}", text, parts)

    def news_site(self, channel: ChannelSpec) -> Piece:
        item_max = channel.limit("item_max")
        title = f"{self.conference}专题"
        held = self.facts.held_at.astimezone(SHANGHAI) if self.facts.held_at.tzinfo else None
        at = held or self.facts.held_at
        preview = [
            f"【发布预告】{self.conference}",
            f"时间：{at.year}年{at.month}月{at.day}日（星期{_WEEKDAYS[at.weekday()]}）{at:%H:%M}",
        ]
        if self.venue:
            preview.append(f"地点：{self.venue}")
        if self.speakers:
            people = _speakers(self.facts.speakers, "；", self.unit)
            preview.append(f"发布人：{self._fragment(people, 120)}")
        if self.facts.live:
            preview.append("网络直播：六安新闻网同步直播")
        content = self.summary(item_max - len("发布内容："))
        if content:
            preview.append(f"发布内容：{content}")
        items = ["\n".join(preview)]
        if self.facts.transcript_url.strip():
            items.append(
                f"【文字实录】{self.conference}文字实录\n{self.facts.transcript_url.strip()}"
            )
        if self.facts.video_url.strip():
            label = "直播回放" if self.facts.live else "视频"
            items.append(f"【{label}】{self.conference}{label}\n{self.facts.video_url.strip()}")
        if self.facts.directory_url.strip():
            items.append(
                f"【新闻发言人名录】六安市新闻发言人名录\n{self.facts.directory_url.strip()}"
            )
        expert = ""
        if self.facts.expert_interpretation.strip():
            raw = normalise(self.facts.expert_interpretation)
            links = URL.findall(raw)
            prose = " ".join(s for s, _ in sentences(URL.sub("", raw)))
            expert = clip(prose.replace(" ", ""), item_max, self.cut)
            item = "【专家解读】" + expert + "".join(f"\n{link}" for link in links[:1])
            items.append(item)
        text = f"{title}\n\n" + "\n\n".join(items)
        text = _within(text, channel.limit("max_chars"))
        parts = (("title", title), ("preview", items[0]), ("summary", content), ("expert", expert))
        return Piece(channel.key, title, text, parts)

    def weibo(self, channel: ChannelSpec) -> Piece:
        room = channel.limit("max_chars")
        tags = [f"#{word}#" for word in self.tags[: channel.limit("tags_max")]]
        if not tags:
            tags = ["#新闻发布会#"]
        tag_text = " ".join(tags)
        short = _CONFERENCE_NOUN.sub("", _plain(self.facts.topic)) or self.core
        title = f"【{short}】" if short and len(short) <= 30 else ""
        event = f"{self.when}，{self.unit}召开新闻发布会。"
        link = self.facts.transcript_url.strip()
        link_text = f"详情：{link}" if link else ""
        layouts = (
            (tag_text, title, event, link_text),
            (tag_text, title, event, ""),
            (tag_text, title, "", ""),
            (tag_text, "", "", ""),
            (tags[0], "", "", ""),
        )
        post = post_body = ""
        for layout in layouts:  # the fullest layout that leaves room for something to say
            fixed = sum(len(p) for p in layout)
            body = self.summary(room - fixed) if room - fixed >= 20 else ""
            if body:
                tag_part, title_part, event_part, link_part = layout
                post = f"{tag_part}{title_part}{event_part}{body}{link_part}"
                post_body = body
                break
        if not post:  # nothing in 要点 fits (or there is nothing): the event alone
            layout = next(
                (lay for lay in layouts if sum(len(p) for p in lay) <= room), (tags[0], "", "", "")
            )
            post = "".join(layout)
        title_text = short or self.conference
        parts = (("post", post), ("body", post_body))
        return Piece(channel.key, title_text, post, parts)

    def wechat(self, channel: ChannelSpec) -> Piece:
        title = self.title(self.headline, channel.limit("title_max"))
        digest_max = channel.limit("digest_max")
        digest = self.summary(digest_max)
        if not digest:
            digest = clip(self.event(), digest_max, self.cut)
        lines = [f"标题：{title}", f"摘要：{digest}"]
        link = self.facts.transcript_url.strip() or self.facts.video_url.strip()
        if link:
            lines.append(f"原文链接：{link}")
        text = _within("\n".join(lines), channel.limit("max_chars"))
        return Piece(channel.key, title, text, (("title", title), ("digest", digest)))

    def new_media(self, channel: ChannelSpec) -> Piece:
        point_max = channel.limit("point_max")
        room = channel.limit("max_chars")
        core = self.core or self.conference
        title = f"新媒体产品任务单：{self.conference}"
        quoted = "".join(f"“{word}”" for word in self.tags[:3])
        stress = f"，突出{quoted}等内容" if quoted else ""
        video = self.facts.video_url.strip()
        transcript = self.facts.transcript_url.strip()
        tasks = [
            f"一、微视频：从发布会视频中剪辑1分钟以内的短视频{stress}。"
            + (f"视频素材：{video}" if video else "视频素材请向发布单位索取。"),
            f"二、H5：以“{core}”为题，逐页呈现下列要点"
            + (f"，文末附文字实录链接：{transcript}" if transcript else "。"),
            f"三、一图读懂：制作“一图读懂{core}”长图，图解下列要点。",
        ]
        head = [title, f"发布单位：{self.unit}　发布时间：{self.when}", "", *tasks, "", "要点："]
        ending = "完成后请在企业微信回复作品链接。"
        fixed = sum(len(line) + 1 for line in head) + 2 + len(ending)
        points: list[str] = []
        pool = [s for s in self.sentences if not s.dependent]
        for s in self.pick(10**9, pool, most=channel.limit("points_max")):
            point = f"{len(points) + 1}. {clip_sentence(s.text, point_max, self.cut)}"
            if fixed + len(point) + 1 > room:
                break
            points.append(point)
            fixed += len(point) + 1
        if not points:  # nothing to list: the products follow the transcript
            head = [line.replace("下列要点", "发布会要点") for line in head[:-2]]
        text = "\n".join([*head, *points, "", ending])
        text = _within(text, room)
        parts = tuple((f"point{i + 1}", p.split(". ", 1)[1]) for i, p in enumerate(points))
        return Piece(channel.key, title, text, (("title", title), *parts))


# --- helpers -----------------------------------------------------------------------------------


def _plain(text: str) -> str:
    """One line, no book-title marks or stray spaces."""
    return re.sub(r"\s+", " ", normalise(text).replace("\n", " ")).strip(" 《》").strip()


def _conference(topic: str) -> str:
    """2026年秋粮收购政策解读 → 2026年秋粮收购政策解读新闻发布会 (a conference name as is)."""
    return topic if _CONFERENCE_NOUN.search(topic) else f"{topic}新闻发布会"


def _core(topic: str) -> tuple[str, str]:
    """(what the conference is about, the verb of a headline): 解读 for policies."""
    core = _CONFERENCE_NOUN.sub("", topic).rstrip("的")
    if core.endswith("解读"):
        return core[: -len("解读")].rstrip("的"), "解读"
    if core.endswith("政策解读会"):
        return core[: -len("解读会")], "解读"
    return core, "解读" if _POLICY_NOUN.search(core) else "介绍"


def _speakers(speakers: Sequence[str], between: str, unit: str = "") -> str:
    """Speakers as written in a piece: "市财政局局长 郑学军" → "市财政局局长郑学军".

    After the first, the unit's name is not repeated (市财政局局长郑学军，副局长鲍克勤);
    people are apart by `between` when a title holds "、" (党组书记、局长), else by "、"."""
    people = [re.sub(r"\s+", "", _plain(s)) for s in speakers if s.strip()]
    if not people:
        return ""
    if unit:
        people[1:] = [
            p[len(unit) :] if p.startswith(unit) and len(p) > len(unit) + 2 else p
            for p in people[1:]
        ]
    joiner = between if any("、" in p for p in people) else "、"
    return joiner.join(people)


def _when(held_at: datetime) -> str:
    at = held_at.astimezone(SHANGHAI) if held_at.tzinfo else held_at
    hour = at.hour
    part = (
        "凌晨" if hour < 6 else "上午" if hour < 12 else "中午" if hour < 13
        else "下午" if hour < 18 else "晚上"
    )  # fmt: skip
    return f"{at.month}月{at.day}日{part}"


def _score(text: str, keywords: Sequence[tuple[str, float]], index: int) -> float:
    """Keyword weight a sentence holds, for its length; earlier sentences weigh a bit more.
    Numbers and latin words count less (a phone number is no news), very short sentences
    too."""
    held = sum(
        weight * (0.3 if word.isascii() and word.isalpha() else 0.7 if word.isascii() else 1.0)
        for word, weight in keywords
        if word in text
    )
    short = 0.5 if len(text) < 12 else 1.0
    return held * short / math.sqrt(1 + len(text) / 40) * (1 + 0.3 / (1 + index))


def _spoken(text: str) -> str:
    """For reading aloud: no links or brackets, 45% → 百分之45, 10:00 → 10点."""
    text = URL.sub("", text)
    text = _PARENTHESES.sub("", text)
    text = _PERCENT.sub(lambda m: f"百分之{m.group(1)}", text)
    text = _RANGE.sub(r"\1至", text)
    text = _CLOCK.sub(_spoken_time, text)
    text = re.sub(r"[【】《》]", "", text)
    text = re.sub(r"[:：]\s*(?=[。；！？])", "", text)
    return text.strip()


def _spoken_time(match: re.Match[str]) -> str:
    hour, minute = int(match.group(1)), int(match.group(2))
    return f"{hour}点" if minute == 0 else f"{hour}点{minute}分"


def _no_links(text: str) -> str:
    return URL.sub("", text)


def _within(text: str, room: int) -> str:
    """A labelled text within `room`: whole lines from the start (a safety net: the templates
    budget their parts so this rarely cuts anything)."""
    if len(text) <= room:
        return text
    kept: list[str] = []
    used = 0
    for line in text.split("\n"):
        if used + len(line) + (1 if kept else 0) > room:
            break
        kept.append(line)
        used += len(line) + (1 if len(kept) > 1 else 0)
    return "\n".join(kept).rstrip("\n")
