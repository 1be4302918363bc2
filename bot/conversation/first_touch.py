"""The T+0 first touch of a lead captured from a form, an ad or a CRM (``POST /leads``): greeting and first
question, or on WhatsApp outside the 24-hour window the playbook's approved template."""

from __future__ import annotations

import logging

from bot.conversation.thread import LeadRef, TurnResult, run_graph
from bot.delivery.buttons import content_sid_for, with_buttons
from bot.delivery.senders import business_route
from cadence.clock import whatsapp_window_open
from graph.texts import placeholders_for, render
from runtime import Runtime
from store import outbox
from store.leads import add_activity, set_status
from store.models import Lead, utcnow
from store.suppression import is_suppressed

log = logging.getLogger(__name__)


def start_conversation(rt: Runtime, *, lead_id: int, capture_id: int) -> TurnResult:
    """The T+0 first touch for a lead captured from a form, an ad or a CRM: greeting and first question.

    On WhatsApp, with no message from the lead in the last 24 hours, only an approved
    template may open the conversation (WhatsApp Business policy): the playbook's
    ``cadence.first_touch_template``, or nothing (recorded) when there is none.
    """
    turn = f"start:{capture_id}"
    with rt.sessions.begin() as session:
        lead = session.get(Lead, lead_id)
        if lead is None or lead.status == "opted_out" or is_suppressed(
                session, business_id=lead.business_id, address=lead.address):
            return TurnResult()
        ref = LeadRef(id=lead.id, business_id=lead.business_id, phone=lead.phone, channel=lead.channel,
                      name=lead.profile_name)
    saved = rt.graph.get_state(ref.config).values
    if saved and saved.get("last_turn") != turn:
        rt.checkpointer.delete_thread(ref.thread_id)  # a new capture starts the conversation afresh
    values = run_graph(rt, ref, turn=turn, body="")
    with rt.sessions.begin() as session:
        lead = session.get(Lead, lead_id)
        if lead is None:  # erased while the graph ran: nothing left to write to
            return TurnResult()
        route = business_route(rt.business, channel=lead.channel)
        texts = placeholders_for(rt.playbook, name=lead.profile_name, phone=lead.phone, lead_ref=f"lead-{lead.id}",
                                 answers={})
        queued: list[int | None] = []
        template = rt.playbook.cadence.first_touch_template
        if lead.channel == "whatsapp" and not whatsapp_window_open(lead.last_inbound_at, utcnow()):
            if template is None:
                add_activity(session, lead_id=lead.id, kind="note",
                             text="First touch not sent: WhatsApp needs a template (cadence.first_touch_template).")
            else:
                queued.append(outbox.add_outbound(
                    session, business_id=lead.business_id, lead_id=lead.id, kind="first_touch", to_address=lead.address,
                        body=None,
                    dedupe_key=f"{turn}:0", from_address=route.from_address,
                    messaging_service_sid=route.messaging_service_sid, content_sid=template.content_sid,
                    content_variables={k: render(v, **texts) for k, v in template.variables.items()}))
        else:  # inside WhatsApp's window the first question goes with its buttons, as a reply's does
            replies: list[str] = values.get("replies") or []
            buttons = content_sid_for(session, rt.playbook, channel=lead.channel, question_id=values.get("asking"),
                                      language=values.get("language"))
            queued += [outbox.add_outbound(session, business_id=lead.business_id, lead_id=lead.id, kind="first_touch",
                                           to_address=lead.address, body=text, dedupe_key=f"{turn}:{n}",
                                               from_address=route.from_address,
                                           messaging_service_sid=route.messaging_service_sid,
                                           **with_buttons(buttons if n == len(replies) - 1 else None, text))
                       for n, text in enumerate(replies)]
        if lead.status == "new":
            set_status(session, lead=lead, status="contacted")
    return TurnResult(outbox_ids=[i for i in queued if i is not None], awaiting_lead=lead_id)
