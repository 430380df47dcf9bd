-- Loaded after scenario.sql: events that arrive late or again.

-- a customer message of E2 that happened before everything else but arrives last: FRT of E2
-- becomes 07:00 -> 09:00 = 7200000 and the reply's run starts at 07:00.
INSERT INTO interaction_log (event_id, tenant_id, channel, source, source_event_id, kind, direction, actor_role, actor_id, actor_name, identity_types, identity_values, conversation_id, occurred_at_ms, received_at_ms, occurred_date, subject, text, rating, status, team, auto_reply, written_at_ms) VALUES
('e2-m0', 'acme', 'email', 'rfc822', 'e2-m0', 'message', 'inbound', 'customer', 'john@example.com', 'John Smith', ['email'], ['john@example.com'], 'email:<thread-2@mail.example.com>', 1709622000000, 1709622001000, '2024-03-05', 'Login', 'Login broken since this morning', NULL, NULL, 'billing', 0, 1709881200000);

-- replays with later written_at_ms: counted once, the latest copy wins (c1-r1's text was edited)
INSERT INTO interaction_log (event_id, tenant_id, channel, source, source_event_id, kind, direction, actor_role, actor_id, actor_name, identity_types, identity_values, conversation_id, occurred_at_ms, received_at_ms, occurred_date, subject, text, rating, status, team, auto_reply, written_at_ms) VALUES
('c1-r1', 'acme', 'chat', 'intercom', 'c1-r1', 'message', 'outbound', 'agent', 'a-carl', 'Carl', ['email', 'intercom_contact'], ['maria@example.com', 'c-77'], 'intercom:1001', 1709647440000, 1709647441000, '2024-03-05', NULL, 'It arrives tomorrow morning', NULL, NULL, 'chat', 0, 1709820240000),
('z1-m1', 'acme', 'support', 'zendesk', 'z1-m1', 'message', 'inbound', 'customer', '9001', 'Li Wei', ['email', 'zendesk_user'], ['li@example.com', '9001'], 'zendesk:501', 1709546400000, 1709546401000, '2024-03-04', 'Refund', 'Refund please', NULL, NULL, 'tier1', 0, 1709719200000);
