-- Scenario for tests/sql/check_sql.py: known conversations with hand-computed answers (the
-- script asserts them explicitly). All times UTC, reference now = 2024-03-08 12:00:00.
-- Applied with the migration runner's rule: full-line comments dropped, split on semicolons.

-- acme E1 (email, billing): two customer messages in a row, then a reply. Run latency from the
-- first: 09:00 -> 09:30 = 1800000 (also the FRT). Then 10:00 -> 10:05 = 300000, solved 10:06.
-- e1-m1 appears twice (redelivery, later written_at_ms wins) and e1-r1 is replayed in the next INSERT.
INSERT INTO interaction_log (event_id, tenant_id, channel, source, source_event_id, kind, direction, actor_role, actor_id, actor_name, identity_types, identity_values, conversation_id, occurred_at_ms, received_at_ms, occurred_date, subject, text, rating, status, team, auto_reply, written_at_ms) VALUES
('e1-m1', 'acme', 'email', 'sendgrid', 'e1-m1', 'message', 'inbound', 'customer', 'maria@example.com', 'Maria Lopez', ['email'], ['maria@example.com'], 'email:<thread-1@mail.example.com>', 1709542800000, 1709542801000, '2024-03-04', 'Invoice 123', 'My invoice is wrong', NULL, NULL, 'billing', 0, 1709542802000),
('e1-m1', 'acme', 'email', 'mailgun', 'e1-m1', 'message', 'inbound', 'customer', 'maria@example.com', 'Maria Lopez', ['email'], ['maria@example.com'], 'email:<thread-1@mail.example.com>', 1709542800000, 1709542801000, '2024-03-04', 'Invoice 123', 'My invoice is wrong', NULL, NULL, 'billing', 0, 1709542860000),
('e1-m2', 'acme', 'email', 'sendgrid', 'e1-m2', 'message', 'inbound', 'customer', 'maria@example.com', 'Maria Lopez', ['email'], ['maria@example.com'], 'email:<thread-1@mail.example.com>', 1709543400000, 1709543401000, '2024-03-04', 'Re: Invoice 123', 'Any news? It is urgent', NULL, NULL, 'billing', 0, 1709543402000),
('e1-r1', 'acme', 'email', 'sendgrid', 'e1-r1', 'message', 'outbound', 'agent', 'a-anna', 'Anna', ['email'], ['maria@example.com'], 'email:<thread-1@mail.example.com>', 1709544600000, 1709544601000, '2024-03-04', 'Re: Invoice 123', 'Sorry, fixed it', NULL, NULL, 'billing', 0, 1709544602000),
('e1-m3', 'acme', 'email', 'sendgrid', 'e1-m3', 'message', 'inbound', 'customer', 'maria@example.com', 'Maria Lopez', ['email'], ['maria@example.com'], 'email:<thread-1@mail.example.com>', 1709546400000, 1709546401000, '2024-03-04', 'Re: Invoice 123', 'Thanks, one more question', NULL, NULL, 'billing', 0, 1709546402000),
('e1-r2', 'acme', 'email', 'sendgrid', 'e1-r2', 'message', 'outbound', 'agent', 'a-ben', 'Ben', ['email'], ['maria@example.com'], 'email:<thread-1@mail.example.com>', 1709546700000, 1709546701000, '2024-03-04', 'Re: Invoice 123', 'Answered', NULL, NULL, 'billing', 0, 1709546702000),
('e1-s1', 'acme', 'email', 'generic', 'e1-s1', 'status_change', 'internal', 'agent', 'a-ben', 'Ben', ['email'], ['maria@example.com'], 'email:<thread-1@mail.example.com>', 1709546760000, 1709546761000, '2024-03-04', NULL, NULL, NULL, 'solved', 'billing', 0, 1709546762000);

-- replay of e1-r1 in a separate part (must be counted once)
INSERT INTO interaction_log (event_id, tenant_id, channel, source, source_event_id, kind, direction, actor_role, actor_id, actor_name, identity_types, identity_values, conversation_id, occurred_at_ms, received_at_ms, occurred_date, subject, text, rating, status, team, auto_reply, written_at_ms) VALUES
('e1-r1', 'acme', 'email', 'ses', 'e1-r1', 'message', 'outbound', 'agent', 'a-anna', 'Anna', ['email'], ['maria@example.com'], 'email:<thread-1@mail.example.com>', 1709544600000, 1709544601000, '2024-03-04', 'Re: Invoice 123', 'Sorry, fixed it', NULL, NULL, 'billing', 0, 1709548200000);

-- acme intercom:1001 (chat, team chat): a bot answers first, the human at 14:04. The bot does
-- not stop the clock: FRT 14:00 -> 14:04 = 240000. Closed 14:10.
INSERT INTO interaction_log (event_id, tenant_id, channel, source, source_event_id, kind, direction, actor_role, actor_id, actor_name, identity_types, identity_values, conversation_id, occurred_at_ms, received_at_ms, occurred_date, subject, text, rating, status, team, auto_reply, written_at_ms) VALUES
('c1-m1', 'acme', 'chat', 'intercom', 'c1-m1', 'message', 'inbound', 'customer', 'c-77', 'Maria Lopez', ['email', 'intercom_contact'], ['maria@example.com', 'c-77'], 'intercom:1001', 1709647200000, 1709647201000, '2024-03-05', NULL, 'Where is my parcel', NULL, NULL, 'chat', 0, 1709647202000),
('c1-b1', 'acme', 'chat', 'intercom', 'c1-b1', 'message', 'outbound', 'bot', 'bot-1', 'Fin', ['email', 'intercom_contact'], ['maria@example.com', 'c-77'], 'intercom:1001', 1709647205000, 1709647206000, '2024-03-05', NULL, 'I am a bot, an agent will reply soon', NULL, NULL, 'chat', 0, 1709647207000),
('c1-r1', 'acme', 'chat', 'intercom', 'c1-r1', 'message', 'outbound', 'agent', 'a-carl', 'Carl', ['email', 'intercom_contact'], ['maria@example.com', 'c-77'], 'intercom:1001', 1709647440000, 1709647441000, '2024-03-05', NULL, 'It arrives tomorrow', NULL, NULL, 'chat', 0, 1709647442000),
('c1-s1', 'acme', 'chat', 'intercom', 'c1-s1', 'status_change', 'internal', 'agent', 'a-carl', 'Carl', ['email', 'intercom_contact'], ['maria@example.com', 'c-77'], 'intercom:1001', 1709647800000, 1709647801000, '2024-03-05', NULL, NULL, NULL, 'closed', 'chat', 0, 1709647802000);

-- acme E2 (email, billing): auto-reply and a private note do not stop the clock. Before the
-- late message (scenario_late.sql) FRT = 08:00 -> 09:00 = 3600000.
INSERT INTO interaction_log (event_id, tenant_id, channel, source, source_event_id, kind, direction, actor_role, actor_id, actor_name, identity_types, identity_values, conversation_id, occurred_at_ms, received_at_ms, occurred_date, subject, text, rating, status, team, auto_reply, written_at_ms) VALUES
('e2-m1', 'acme', 'email', 'sendgrid', 'e2-m1', 'message', 'inbound', 'customer', 'john@example.com', 'John Smith', ['email'], ['john@example.com'], 'email:<thread-2@mail.example.com>', 1709625600000, 1709625601000, '2024-03-05', 'Login', 'Cannot log in', NULL, NULL, 'billing', 0, 1709625602000),
('e2-a1', 'acme', 'email', 'sendgrid', 'e2-a1', 'message', 'outbound', 'agent', 'support@acme.example', 'Acme Support', ['email'], ['john@example.com'], 'email:<thread-2@mail.example.com>', 1709625601000, 1709625602000, '2024-03-05', 'Re: Login', 'We received your message', NULL, NULL, 'billing', 1, 1709625603000),
('e2-n1', 'acme', 'email', 'generic', 'e2-n1', 'note', 'internal', 'agent', 'a-anna', 'Anna', ['email'], ['john@example.com'], 'email:<thread-2@mail.example.com>', 1709626800000, 1709626801000, '2024-03-05', NULL, 'Checking SSO logs', NULL, NULL, 'billing', 0, 1709626802000),
('e2-r1', 'acme', 'email', 'sendgrid', 'e2-r1', 'message', 'outbound', 'agent', 'a-anna', 'Anna', ['email'], ['john@example.com'], 'email:<thread-2@mail.example.com>', 1709629200000, 1709629201000, '2024-03-05', 'Re: Login', 'Reset done', NULL, NULL, 'billing', 0, 1709629202000);

-- acme zendesk:501 (support, team moved tier1 -> tier2): reply after 1 h, pending (not a reopen),
-- solved after 2 h, the customer writes back and the ticket reopens in the same millisecond,
-- reply after 1 h, solved again. reopen_count 1, first resolution 7200000, full 90000000.
INSERT INTO interaction_log (event_id, tenant_id, channel, source, source_event_id, kind, direction, actor_role, actor_id, actor_name, identity_types, identity_values, conversation_id, occurred_at_ms, received_at_ms, occurred_date, subject, text, rating, status, team, auto_reply, written_at_ms) VALUES
('z1-m1', 'acme', 'support', 'zendesk', 'z1-m1', 'message', 'inbound', 'customer', '9001', 'Li Wei', ['email', 'zendesk_user'], ['li@example.com', '9001'], 'zendesk:501', 1709546400000, 1709546401000, '2024-03-04', 'Refund', 'Refund please', NULL, NULL, 'tier1', 0, 1709546402000),
('z1-r1', 'acme', 'support', 'zendesk', 'z1-r1', 'message', 'outbound', 'agent', 'a-dora', 'Dora', ['email', 'zendesk_user'], ['li@example.com', '9001'], 'zendesk:501', 1709550000000, 1709550001000, '2024-03-04', NULL, 'Refund issued', NULL, NULL, 'tier1', 0, 1709550002000),
('z1-s1', 'acme', 'support', 'zendesk', 'z1-s1', 'status_change', 'internal', 'agent', 'a-dora', 'Dora', ['email', 'zendesk_user'], ['li@example.com', '9001'], 'zendesk:501', 1709550000000, 1709550001000, '2024-03-04', NULL, NULL, NULL, 'pending', 'tier1', 0, 1709550002000),
('z1-s2', 'acme', 'support', 'zendesk', 'z1-s2', 'status_change', 'internal', 'agent', 'a-dora', 'Dora', ['email', 'zendesk_user'], ['li@example.com', '9001'], 'zendesk:501', 1709553600000, 1709553601000, '2024-03-04', NULL, NULL, NULL, 'solved', 'tier1', 0, 1709553602000),
('z1-m2', 'acme', 'support', 'zendesk', 'z1-m2', 'message', 'inbound', 'customer', '9001', 'Li Wei', ['email', 'zendesk_user'], ['li@example.com', '9001'], 'zendesk:501', 1709629200000, 1709629201000, '2024-03-05', NULL, 'Not received yet', NULL, NULL, 'tier1', 0, 1709629202000),
('z1-s3', 'acme', 'support', 'zendesk', 'z1-s3', 'status_change', 'internal', 'system', NULL, NULL, ['email', 'zendesk_user'], ['li@example.com', '9001'], 'zendesk:501', 1709629200000, 1709629201000, '2024-03-05', NULL, NULL, NULL, 'open', 'tier1', 0, 1709629202000),
('z1-r2', 'acme', 'support', 'zendesk', 'z1-r2', 'message', 'outbound', 'agent', 'a-dora', 'Dora', ['email', 'zendesk_user'], ['li@example.com', '9001'], 'zendesk:501', 1709632800000, 1709632801000, '2024-03-05', NULL, 'Sent again', NULL, NULL, 'tier2', 0, 1709632802000),
('z1-s4', 'acme', 'support', 'zendesk', 'z1-s4', 'status_change', 'internal', 'agent', 'a-dora', 'Dora', ['email', 'zendesk_user'], ['li@example.com', '9001'], 'zendesk:501', 1709636400000, 1709636401000, '2024-03-05', NULL, NULL, NULL, 'solved', NULL, 0, 1709636402000);

-- acme zendesk:502 (support, tier1): agent-created ticket. The outbound message answers nothing,
-- FRT = first customer message 12:00 -> next human reply 12:30 = 1800000, by a-ellen.
INSERT INTO interaction_log (event_id, tenant_id, channel, source, source_event_id, kind, direction, actor_role, actor_id, actor_name, identity_types, identity_values, conversation_id, occurred_at_ms, received_at_ms, occurred_date, subject, text, rating, status, team, auto_reply, written_at_ms) VALUES
('z2-o1', 'acme', 'support', 'zendesk', 'z2-o1', 'message', 'outbound', 'agent', 'a-dora', 'Dora', ['email', 'zendesk_user'], ['omar@example.com', '9002'], 'zendesk:502', 1709715600000, 1709715601000, '2024-03-06', 'Renewal', 'Your contract renewal', NULL, NULL, 'tier1', 0, 1709715602000),
('z2-m1', 'acme', 'support', 'zendesk', 'z2-m1', 'message', 'inbound', 'customer', '9002', 'Omar N.', ['email', 'zendesk_user'], ['omar@example.com', '9002'], 'zendesk:502', 1709726400000, 1709726401000, '2024-03-06', NULL, 'Which plan is cheaper', NULL, NULL, 'tier1', 0, 1709726402000),
('z2-r1', 'acme', 'support', 'zendesk', 'z2-r1', 'message', 'outbound', 'agent', 'a-ellen', 'Ellen', ['email', 'zendesk_user'], ['omar@example.com', '9002'], 'zendesk:502', 1709728200000, 1709728201000, '2024-03-06', NULL, 'Plan B', NULL, NULL, 'tier1', 0, 1709728202000);

-- acme google reviews: rev-1 answered after 15 h (54000000), rev-2 never answered (waiting).
INSERT INTO interaction_log (event_id, tenant_id, channel, source, source_event_id, kind, direction, actor_role, actor_id, actor_name, identity_types, identity_values, conversation_id, occurred_at_ms, received_at_ms, occurred_date, subject, text, rating, status, team, auto_reply, written_at_ms) VALUES
('g1-v1', 'acme', 'review', 'google', 'g1-v1', 'review', 'inbound', 'customer', 'Pat Q.', 'Pat Q.', ['google_reviewer'], ['Pat Q.'], 'google:rev-1', 1709488800000, 1709488801000, '2024-03-03', NULL, 'Slow delivery', 2, NULL, NULL, 0, 1709488802000),
('g1-p1', 'acme', 'review', 'google', 'rev-1:reply', 'review_reply', 'outbound', 'agent', 'a-owner', 'Acme Owner', ['google_reviewer'], ['Pat Q.'], 'google:rev-1', 1709542800000, 1709542801000, '2024-03-04', NULL, 'Sorry about that', NULL, NULL, NULL, 0, 1709542802000),
('g2-v1', 'acme', 'review', 'google', 'g2-v1', 'review', 'inbound', 'customer', 'Kim R.', 'Kim R.', ['google_reviewer'], ['Kim R.'], 'google:rev-2', 1709755200000, 1709755201000, '2024-03-06', NULL, 'Great service', 5, NULL, NULL, 0, 1709755202000);

-- acme intercom:1002 (chat): still waiting since 16:00 (the bot reply does not count).
-- intercom:1003: the customer wrote, the agent closed it without replying: not unanswered.
INSERT INTO interaction_log (event_id, tenant_id, channel, source, source_event_id, kind, direction, actor_role, actor_id, actor_name, identity_types, identity_values, conversation_id, occurred_at_ms, received_at_ms, occurred_date, subject, text, rating, status, team, auto_reply, written_at_ms) VALUES
('c2-m1', 'acme', 'chat', 'intercom', 'c2-m1', 'message', 'inbound', 'customer', 'c-88', 'Sam', ['email', 'intercom_contact'], ['sam@example.com', 'c-88'], 'intercom:1002', 1709827200000, 1709827201000, '2024-03-07', NULL, 'Hello, anyone there', NULL, NULL, 'chat', 0, 1709827202000),
('c2-b1', 'acme', 'chat', 'intercom', 'c2-b1', 'message', 'outbound', 'bot', 'bot-1', 'Fin', ['email', 'intercom_contact'], ['sam@example.com', 'c-88'], 'intercom:1002', 1709827202000, 1709827203000, '2024-03-07', NULL, 'An agent will reply soon', NULL, NULL, 'chat', 0, 1709827204000),
('c2-m2', 'acme', 'chat', 'intercom', 'c2-m2', 'message', 'inbound', 'customer', 'c-88', 'Sam', ['email', 'intercom_contact'], ['sam@example.com', 'c-88'], 'intercom:1002', 1709827500000, 1709827501000, '2024-03-07', NULL, 'I need to change my address', NULL, NULL, 'chat', 0, 1709827502000),
('c3-m1', 'acme', 'chat', 'intercom', 'c3-m1', 'message', 'inbound', 'customer', 'c-99', 'Noa', ['intercom_contact'], ['c-99'], 'intercom:1003', 1709805600000, 1709805601000, '2024-03-07', NULL, 'spam spam', NULL, NULL, 'chat', 0, 1709805602000),
('c3-s1', 'acme', 'chat', 'intercom', 'c3-s1', 'status_change', 'internal', 'agent', 'a-carl', 'Carl', ['intercom_contact'], ['c-99'], 'intercom:1003', 1709805660000, 1709805661000, '2024-03-07', NULL, NULL, NULL, 'closed', 'chat', 0, 1709805662000);

-- globex zendesk:501: same conversation id, other tenant, must not mix with acme. A second
-- customer message and the reply share a millisecond (and the reply's event_id sorts first):
-- the message is read first, so the reply answers both, latency from 10:00 = 600000.
INSERT INTO interaction_log (event_id, tenant_id, channel, source, source_event_id, kind, direction, actor_role, actor_id, actor_name, identity_types, identity_values, conversation_id, occurred_at_ms, received_at_ms, occurred_date, subject, text, rating, status, team, auto_reply, written_at_ms) VALUES
('gx-m1', 'globex', 'support', 'zendesk', 'gx-m1', 'message', 'inbound', 'customer', '77', 'Li Wei', ['email', 'zendesk_user'], ['li@example.com', '77'], 'zendesk:501', 1709546400000, 1709546401000, '2024-03-04', NULL, 'Globex question', NULL, NULL, 'desk', 0, 1709546402000),
('gx-m2', 'globex', 'support', 'zendesk', 'gx-m2', 'message', 'inbound', 'customer', '77', 'Li Wei', ['email', 'zendesk_user'], ['li@example.com', '77'], 'zendesk:501', 1709547000000, 1709547001000, '2024-03-04', NULL, 'Hello again', NULL, NULL, 'desk', 0, 1709547002000),
('gx-a1', 'globex', 'support', 'zendesk', 'gx-a1', 'message', 'outbound', 'agent', 'g-zoe', 'Zoe', ['email', 'zendesk_user'], ['li@example.com', '77'], 'zendesk:501', 1709547000000, 1709547001000, '2024-03-04', NULL, 'Globex answer', NULL, NULL, 'desk', 0, 1709547002000);

-- Identity, as rapport-linker would have written it for the events above (default policy).
-- customer_id = UUID v5 of (tenant, smallest member key), see docs/IDENTITY.md. Maria's email is
-- alone in email:<thread-1@…> but linked to her chat contact c-77 by intercom:1001, so one
-- customer spans both conversations; looking her up by intercom_contact:c-77 finds the email
-- thread too. globex's li@example.com is another customer than acme's: tenants never share.
INSERT INTO identity_links (tenant_id, identity_a, identity_b, state, event_id, source, occurred_at_ms, changed_at_ms) VALUES
('acme', 'email:maria@example.com', 'intercom_contact:c-77', 'linked', 'c1-m1', 'intercom', 1709647200000, 1709647203000),
('acme', 'email:li@example.com', 'zendesk_user:9001', 'linked', 'z1-m1', 'zendesk', 1709546400000, 1709546403000),
('acme', 'email:omar@example.com', 'zendesk_user:9002', 'linked', 'z2-o1', 'zendesk', 1709715600000, 1709715603000),
('acme', 'email:sam@example.com', 'intercom_contact:c-88', 'linked', 'c2-m1', 'intercom', 1709827200000, 1709827203000),
('globex', 'email:li@example.com', 'zendesk_user:77', 'linked', 'gx-m1', 'zendesk', 1709546400000, 1709546403000);

INSERT INTO customers (tenant_id, identity, customer_id, changed_at_ms) VALUES
('acme', 'email:maria@example.com', '9f0ed415-8d61-59c5-a4bf-5de33d73dceb', 1709542803000),
('acme', 'intercom_contact:c-77', '9f0ed415-8d61-59c5-a4bf-5de33d73dceb', 1709647203000),
('acme', 'email:john@example.com', '9d83e396-2087-5e2b-ba53-09d6a1234327', 1709625603000),
('acme', 'email:li@example.com', '2518afde-c22f-56e4-94cc-b83f592f16c2', 1709546403000),
('acme', 'zendesk_user:9001', '2518afde-c22f-56e4-94cc-b83f592f16c2', 1709546403000),
('acme', 'email:omar@example.com', '1fc37253-9922-51b3-93ea-74757700794d', 1709715603000),
('acme', 'zendesk_user:9002', '1fc37253-9922-51b3-93ea-74757700794d', 1709715603000),
('acme', 'google_reviewer:Pat Q.', '8ad2aac3-9630-56d1-866a-6b0fb9a08dd9', 1709488803000),
('acme', 'google_reviewer:Kim R.', '1a3e26d5-dfdf-589c-afcf-78b5db3bbad9', 1709755203000),
('acme', 'email:sam@example.com', 'dc71b279-40ef-5d52-a027-9c2a2884aced', 1709827203000),
('acme', 'intercom_contact:c-88', 'dc71b279-40ef-5d52-a027-9c2a2884aced', 1709827203000),
('acme', 'intercom_contact:c-99', 'ffead2f1-c30c-54e9-9bc3-ba11173bb15c', 1709805603000),
('globex', 'email:li@example.com', '1b309ef6-f0c9-5114-8763-63f700d07a19', 1709546403000),
('globex', 'zendesk_user:77', '1b309ef6-f0c9-5114-8763-63f700d07a19', 1709546403000);
