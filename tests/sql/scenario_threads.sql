-- Loaded last: email threads (008_email_threads.sql). Tenant thread-co has one thread stored
-- under two conversation ids: the customer's message (email:<t-root@x>) and the agent's reply
-- to it, stored under email:<t-reply@x> because it names only the customer's follow-up in
-- In-Reply-To, the follow-up itself (email:<t-root@x>, References intact). The writer mapped
-- email:<t-reply@x> to itself first (version 1) and to the thread email:<t-root@x> once the
-- follow-up arrived (version 2): the views must group all three events under the thread, so the
-- first response is 10:00 -> 10:30 = 1800000 and there is one conversation.
INSERT INTO interaction_log (event_id, tenant_id, channel, source, source_event_id, kind, direction, actor_role, actor_id, actor_name, identity_types, identity_values, conversation_id, occurred_at_ms, received_at_ms, occurred_date, subject, text, rating, status, team, auto_reply, written_at_ms) VALUES
('t-m1', 'thread-co', 'email', 'rfc822', 't-root@x', 'message', 'inbound', 'customer', 'ann@example.com', 'Ann', ['email'], ['ann@example.com'], 'email:<t-root@x>', 1709546400000, 1709546401000, '2024-03-04', 'Order', 'Where is my order', NULL, NULL, NULL, 0, 1709546402000),
('t-m2', 'thread-co', 'email', 'rfc822', 't-follow@x', 'message', 'inbound', 'customer', 'ann@example.com', 'Ann', ['email'], ['ann@example.com'], 'email:<t-root@x>', 1709547000000, 1709547001000, '2024-03-04', 'Re: Order', 'Any news', NULL, NULL, NULL, 0, 1709547002000),
('t-r1', 'thread-co', 'email', 'rfc822', 't-reply@x', 'message', 'outbound', 'agent', 'a-kim', 'Kim', ['email'], ['ann@example.com'], 'email:<t-follow@x>', 1709548200000, 1709548201000, '2024-03-04', 'Re: Order', 'Shipped today', NULL, NULL, NULL, 0, 1709548202000);

INSERT INTO email_threads (tenant_id, conversation_id, thread_id, changed_at_ms) VALUES
('thread-co', 'email:<t-root@x>', 'email:<t-root@x>', 1),
('thread-co', 'email:<t-follow@x>', 'email:<t-follow@x>', 1),
('thread-co', 'email:<t-follow@x>', 'email:<t-root@x>', 2);
