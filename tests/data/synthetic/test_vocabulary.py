"""The topic table."""

from __future__ import annotations

from scenerec.data.synthetic import TOPIC_NAMES
from scenerec.data.synthetic.vocabulary import TOPICS


def test_topic_table_is_well_formed() -> None:
    assert len(set(TOPIC_NAMES)) == len(TOPIC_NAMES) >= 20
    for topic in TOPICS:
        assert len(topic.words) == 14 and len(set(topic.words)) == 14, topic.name
        assert len(topic.nouns) == 6 and len(set(topic.nouns)) == 6, topic.name
        assert len(topic.brands) == 4, topic.name
