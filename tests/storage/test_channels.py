"""storage.channels: a Slack channel's subscription to an edition, on SQLite and PostgreSQL (the
`session` fixture runs both)."""

from __future__ import annotations

from sqlmodel import Session

from storage import channels


def test_subscribe_is_idempotent_and_unsubscribe_stops_it(session: Session) -> None:
    assert channels.subscribe(session=session, team_id="T1", channel_id="C1", edition="tech")
    assert not channels.subscribe(session=session, team_id="T1", channel_id="C1", edition="tech")
    assert channels.subscribe(session=session, team_id="T1", channel_id="C2", edition="reads")
    assert [s.channel_id for s in channels.subscriptions(session=session, edition="tech")] == ["C1"]
    assert channels.unsubscribe(session=session, team_id="T1", channel_id="C1")
    assert not channels.unsubscribe(session=session, team_id="T1", channel_id="C1")
    assert [s.channel_id for s in channels.subscriptions(session=session)] == ["C2"]


def test_subscribing_to_another_edition_switches_the_channel(session: Session) -> None:
    channels.subscribe(session=session, team_id="T1", channel_id="C1", edition="tech")
    assert channels.subscribe(session=session, team_id="T1", channel_id="C1", edition="reads")
    [only] = channels.subscriptions(session=session)
    assert only.edition == "reads"
