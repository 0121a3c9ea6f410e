-- The borrower organisation an event is about, if it is about one: a
-- borrower's feed (its portal backend's) is the events of its organisations,
-- read by this index in position order. Events of no organisation (the
-- committee's own, say) stay NULL and are on no borrower's feed.
ALTER TABLE outbox ADD COLUMN organization_number text;
CREATE INDEX outbox_organization_position_idx ON outbox (organization_number, position)
    WHERE organization_number IS NOT NULL;
