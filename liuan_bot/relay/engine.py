"""jieba for the relay: a private tokenizer and TF-IDF extractor, loaded once, quietly.

`import jieba` and `import jieba.analyse` happen in `load_engine()` only (about 1.5–2 s),
never when the relay is imported. The tokenizer is a private `jieba.Tokenizer` with the domain
dictionary, never the global `jieba.dt`; the extractor is a private `jieba.analyse.TFIDF`
bound to it (a copy of jieba's default extractor: the IDF table, read once by
`import jieba.analyse`, is shared read-only), with the repo's stop words plus the relay's own
(words too general for a tag). Warnings jieba 0.42.1 emits while loading (pkg_resources
deprecation, invalid escapes, files left to the GC) are silenced here only.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from liuan_bot.jieba_loader import domain_tokenizer, quiet_jieba

__all__ = ["Engine", "load_engine"]


# Words jieba's IDF ranks high in a release but that say nothing as a tag or keyword.
def _words(text: str) -> frozenset[str]:
    """A set of words written as one space-separated string."""
    return frozenset(text.split())


RELAY_STOPWORDS = _words(
    """我市 全市 本市 我省 全省 我国 全国 今年 去年 明年 当年 往年 目前 当前 近期 近日 日前
    进一步 加强 加大 相关 有关 工作 情况 问题 方面 其中 同时 此外 以及 通过 进行 开展 确保
    推动 推进 落实 实现 不断 持续 切实 积极 主要 重点 重要 做好 提高 提升 全面 有效 严格
    坚持 按照 根据 要求 规定 部门 单位 发布会 新闻发布会 记者 介绍 解读 召开 举行 发布 政策
    会上 市民 群众 工作人员 负责人 不低于 不超过 共计 合计 左右 以上 以下 万元 亿元 及时
    各类 各项 一批 一系列 有序 继续 今后 下一步 截至 累计 分别 已经 正在 开始 结束 期间
    为期 安排 组织 实行 实施 需要 必须 应当 可以 能够 所有 全部 部分 大力 充分 认真 精心
    各地 各级 各个 这次 本次 此次 这些 那些 一是 二是 三是 四是 五是 首先 其次 最后 另外
    因此 所以 但是 如果 为了 由于 对于 关于 及其 之一 来说 方式 方法 措施 内容 形式 作用
    意义 活动 服务 管理 建设 发展 保障 提供 支持 参与 反映 拨打 电话 热线 举报 咨询 期限
    政策解读 新闻发布 政务发布 吹风会 政策吹风会 新闻发言人 发言人 通气会 记者会"""
)
_WEIGHTS = 25  # words that score sentences
_CJK_WORD = re.compile(r"^[\u4e00-\u9fff]{2,8}$")
_NUMERAL = re.compile(r"^[零〇一二两三四五六七八九十百千万亿几多半每第首]")
_TIMEISH = re.compile(
    r"(?:年|月|日|号|时|点|分|周|天|季度|年度|月份|年底|年初|月底|月初|上旬|中旬|下旬|期间)$"
    r"|^(?:上午|下午|晚上|中午|凌晨|星期|礼拜)"
)
_ORG_OR_PLACE = re.compile(
    r"(?:局|委|办|厅|处|科|所|站|中心|政府|集团|公司|银行|医院|学校|市|县|区|乡|镇|街道|村|社)$"
)


class _Tokenizer(Protocol):
    def lcut(self, sentence: str, cut_all: bool = False, HMM: bool = True) -> list[str]: ...


class _Extractor(Protocol):
    def extract_tags(
        self,
        sentence: str,
        topK: int | None = 20,
        withWeight: bool = False,
        allowPOS: tuple[str, ...] = (),
        withFlag: bool = False,
    ) -> list[tuple[str, float]]: ...


@dataclass(frozen=True)
class Engine:
    """What the relay needs of jieba, ready to use; safe to share between threads."""

    tokenizer: _Tokenizer
    extractor: _Extractor
    stopwords: frozenset[str]  # the repo's stop words and the relay's, lower-cased
    domain_words: frozenset[str]  # config/jieba-dict.txt

    def cut(self, text: str) -> list[str]:
        return self.tokenizer.lcut(text)

    def ranked(self, text: str, topic: str = "") -> list[tuple[str, float]]:
        """TF-IDF keywords of `text` that make good tags, best first (see `analyse`)."""
        return self.analyse(text, topic)[0]

    def analyse(
        self, text: str, topic: str = ""
    ) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """(tags, weights) of `text` from one TF-IDF pass.

        weights: the best words as jieba weighs them, numbers included (they carry the news:
        prices, dates, counts), for scoring sentences.
        tags: best first, without words unfit for a tag: stop words, numbers, dates and
        times, function words, organisations and places. Words of the domain dictionary and
        of `topic` weigh more, and so do longer words; two words that make a set phrase become
        one (最低收购价); a word inside a better one is dropped (收购 after 秋粮收购)."""
        weighted: list[tuple[str, float]] = self.extractor.extract_tags(
            text, topK=None, withWeight=True
        )
        scored: list[tuple[str, float]] = []
        for word, weight in weighted:
            if not self.fit_for_tag(word):
                continue
            if word in self.domain_words:
                weight *= 1.5
            if topic and word in topic:
                weight *= 2.0
            scored.append((word, weight * _specific(word)))
        scored.extend(_phrases(text, scored[:12], self.cut))
        scored.sort(key=lambda item: -item[1])
        kept: list[tuple[str, float]] = []
        for word, weight in scored:
            if any(word in better or better in word for better, _ in kept):
                continue
            kept.append((word, weight))
            if len(kept) >= 40:
                break
        return kept, weighted[:_WEIGHTS]

    def fit_for_tag(self, word: str) -> bool:
        return bool(
            _CJK_WORD.match(word)
            and word.lower() not in self.stopwords
            and not _NUMERAL.match(word)
            and not _TIMEISH.search(word)
            and not _ORG_OR_PLACE.search(word)
        )


def _specific(word: str) -> float:
    """Longer words make more specific tags (最低收购价 over 售粮)."""
    return 1.0 + 0.15 * (min(len(word), 6) - 2)


def _phrases(
    text: str, best: list[tuple[str, float]], cut: Callable[[str], list[str]]
) -> list[tuple[str, float]]:
    """Two keywords that make a set phrase (最低 + 收购价 → 最低收购价): written together at
    least twice, the rarer never written alone, and cut as those two words by jieba. The
    phrase weighs a little more than the better of the two."""
    found: list[tuple[str, float]] = []
    for first, first_weight in best:
        for second, second_weight in best:
            phrase = first + second
            if first == second or len(phrase) > 6:
                continue
            count = text.count(phrase)
            if count < 2 or count < min(text.count(first), text.count(second)):
                continue
            at = text.find(phrase)
            window = text[max(0, at - 6) : at + len(phrase) + 6]
            words = cut(window)
            if not any(words[i : i + 2] == [first, second] for i in range(len(words) - 1)):
                continue
            weight = max(first_weight, second_weight) * 1.2
            found.append((phrase, weight * _specific(phrase) / _specific(first)))
    return found


def _read_words(path: Path) -> frozenset[str]:
    return frozenset(
        line.strip().lower()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )


_LOADED: dict[tuple[Path, Path], Engine] = {}
_LOADING = threading.Lock()


def load_engine(dict_path: Path, stopwords_path: Path) -> Engine:
    """Import jieba and build the relay's tokenizer and extractor (slow: once per process and
    pair of files; an Engine is immutable and shared)."""
    key = (dict_path.resolve(), stopwords_path.resolve())
    with _LOADING:
        if key not in _LOADED:
            _LOADED[key] = _build_engine(dict_path, stopwords_path)
        return _LOADED[key]


def _build_engine(dict_path: Path, stopwords_path: Path) -> Engine:
    stopwords = _read_words(stopwords_path) | RELAY_STOPWORDS
    domain_words = frozenset(line.split()[0] for line in _read_words(dict_path))
    tokenizer = domain_tokenizer(dict_path)
    with quiet_jieba():
        import jieba.analyse

        extractor = copy.copy(jieba.analyse.default_tfidf)
        extractor.tokenizer = tokenizer
        extractor.postokenizer = None  # POS filtering is never asked for
        extractor.stop_words = set(extractor.stop_words) | set(stopwords)
    return Engine(tokenizer, extractor, stopwords, domain_words)
