-- Stored business times and SLA outcomes for tests/sql/check_sql.py (tenant sla-co), as the
-- writer would store them (007_business_time_sla.sql), to run the views over them on both
-- engines. Due times are either in 2024 (so an active target is overdue whenever the check
-- runs) or in 2200 (never overdue), so sla_outcomes, which reads now(), is deterministic.

-- s1: asked Monday 2024-03-04 08:00 before the 09:00 opening, answered 09:10: 70 wall minutes,
-- 10 business ones; solved 10:00 (2 h wall, 1 h business). A stale version 0 of its
-- first-response outcome says active: FINAL keeps version 1.
INSERT INTO conversations (tenant_id, conversation_id, channel, team, events, created_at_ms, first_inbound_at_ms, first_response_at_ms, first_response_ms, first_responder_id, customer_messages, human_replies, replies_with_latency, reply_latency_sum_ms, avg_reply_latency_ms, max_reply_latency_ms, first_resolved_at_ms, last_resolved_at_ms, first_resolution_ms, full_resolution_ms, is_resolved, last_event_at_ms, calendar, first_response_business_ms, reply_latency_business_sum_ms, avg_reply_latency_business_ms, max_reply_latency_business_ms, first_resolution_business_ms, full_resolution_business_ms, version) VALUES
('sla-co', 's1', 'email', 'billing', 3, 1709539200000, 1709539200000, 1709543400000, 4200000, 'a-anna', 1, 1, 1, 4200000, 4200000, 4200000, 1709546400000, 1709546400000, 7200000, 7200000, 1, 1709546400000, 'office', 600000, 600000, 600000, 600000, 3600000, 3600000, 1);

INSERT INTO replies (tenant_id, reply_day, conversation_id, reply_event_id, channel, team, agent_id, agent_name, replied_at_ms, inbound_at_ms, reply_latency_ms, has_latency, is_first_response, reply_latency_business_ms, calendar, version) VALUES
('sla-co', '2024-03-04', 's1', 's1-r1', 'email', 'billing', 'a-anna', 'Anna', 1709543400000, 1709539200000, 4200000, 1, 1, 600000, 'office', 1);

INSERT INTO resolutions (tenant_id, resolved_day, conversation_id, event_id, channel, team, resolved_at_ms, first_resolution_ms, full_resolution_ms, is_first, is_full, first_resolution_business_ms, full_resolution_business_ms, segment_started_at_ms, segment_ms, segment_business_ms, calendar, version) VALUES
('sla-co', '2024-03-04', 's1', 's1-s1', 'email', 'billing', 1709546400000, 7200000, 7200000, 1, 1, 3600000, 3600000, 1709539200000, 7200000, 3600000, 'office', 1);

-- s1 met both targets; s2 (Tuesday) is unanswered, past its at-risk time, due in 2200; s3's
-- first response was due 2024-03-04 11:00 and is still active, so it is breached at that time;
-- its next reply is paused with 10 minutes left; s4 (the next week) was answered late; s5 has
-- no policy (status none, left out).
INSERT INTO sla (tenant_id, conversation_id, target, policy, calendar, channel, team, agent_id, target_ms, status, cycles, breached_cycles, started_at_ms, due_at_ms, at_risk_at_ms, breached_at_ms, stopped_at_ms, remaining_ms, version) VALUES
('sla-co', 's1', 'first_response', 'standard', 'office', 'email', 'billing', NULL, 900000, 'active', 1, 0, 1709539200000, 1709543700000, 1709543400000, NULL, NULL, NULL, 0),
('sla-co', 's1', 'first_response', 'standard', 'office', 'email', 'billing', 'a-anna', 900000, 'met', 1, 0, 1709539200000, 1709543700000, 1709543400000, NULL, 1709543400000, NULL, 1),
('sla-co', 's1', 'resolution', 'standard', 'office', 'email', 'billing', NULL, 28800000, 'met', 1, 0, 1709539200000, NULL, NULL, NULL, 1709546400000, NULL, 1),
('sla-co', 's2', 'first_response', 'standard', 'office', 'email', 'billing', NULL, 900000, 'active', 1, 0, 1709629200000, 7258118400000, 1709629500000, NULL, NULL, NULL, 1),
('sla-co', 's3', 'first_response', 'standard', 'office', 'email', 'billing', NULL, 900000, 'active', 1, 0, 1709542800000, 1709550000000, 1709549700000, NULL, NULL, NULL, 1),
('sla-co', 's3', 'next_reply', 'standard', 'office', 'email', 'billing', NULL, 1800000, 'paused', 1, 0, 1709552000000, NULL, NULL, NULL, NULL, 600000, 1),
('sla-co', 's4', 'first_response', 'standard', 'office', 'email', 'billing', 'a-ben', 900000, 'breached', 1, 1, 1710147600000, 1710148500000, 1710148200000, 1710148500000, 1710151200000, NULL, 1),
('sla-co', 's5', 'first_response', '', '', 'chat', NULL, NULL, 0, 'none', 0, 0, 1709542800000, NULL, NULL, NULL, NULL, NULL, 1);
