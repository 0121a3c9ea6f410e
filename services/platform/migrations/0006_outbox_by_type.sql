-- A feed stream that asks for some event types reads them by type: the cost
-- of a read is what matches, not the whole tail of other types after the
-- subscriber's position.
CREATE INDEX outbox_type_position_idx ON outbox (event_type, position);
