-- A parked event an operator asks to replay, once its cause is fixed (a
-- handler fixed and deployed, a receive limit raised): the consumer fetches it
-- again from the producer's feed, applies it and removes its row; a replay
-- that fails leaves the row, with the new error, for another look.
ALTER TABLE consumer_dead_letter ADD COLUMN replay_requested boolean NOT NULL DEFAULT false;
