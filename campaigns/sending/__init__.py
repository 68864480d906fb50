"""The one outbox's sending pipeline: every outgoing message is a ``Message`` row sent through here.

Modules, in the order a message goes through them: ``materialise`` (campaign rows), ``claims``
(leases, recovery), ``locks`` (consent locks), ``decide`` (the send-time check), ``batch`` (send
and write back), ``outcomes`` (what an answer from WhatsApp means for the row: a pure table),
``dispatcher`` (the loop), ``throttle`` (the shared sliding-window rate limiter), ``inflight``
(which calls started) and ``service`` (replies, confirmations and test sends: the same rules).

The rule everywhere: a call that may have reached WhatsApp is never sent again (the row becomes
UNKNOWN until its status webhook resolves it); a call that certainly did not leave is retried.


1. ``messages_materialise``: one queued row per (campaign, contact), INSERT ... SELECT from the
   segment query; a rerun adds only the missing rows (the unique constraint does the rest).
2. ``messages_claim``: a dispatcher takes a batch with ``FOR UPDATE SKIP LOCKED`` and a lease.
3. ``batch_send``: under a lock on the batch's consent rows (held on a second connection from
   the check until every HTTP call of the batch has returned), re-check consent, suppression,
   caps, quiet hours and parameters in one query; mark the sendable rows SENDING in a committed
   write; send them concurrently; release the locks; write the results back in bulk.

Why the lock matters: ``consent_record`` locks the contact's ConsentState row before it changes
it, so an opt-out recorded during a batch waits until the batch's sends have left, and every send
after the opt-out sees it. The opt-out takes that lock before the audit log's and the ledger's
(consent.services.consent_states_lock), so it waits only for its own person's batch and never
holds the chains every other opt-out needs meanwhile. Concurrent batches (other campaigns, other workers) to the same contact
wait for each other, so the cap counts they read include each other's dispatched messages.

A row found SENDING after its lease expired whose call had started is never sent again: the call
may have reached WhatsApp. It becomes UNKNOWN until its status webhook (matched by callback data)
resolves it. A row whose call had not started is queued again (campaigns.sending.inflight tells them apart).
A live worker renews its batch's lease while the calls run, so only a dead or frozen one loses it.
"""
