-- The clients that attempted a River job, the last one last (River's fetch
-- appends its client ID): the resumer finds the jobs this client fetched.
ALTER TABLE river_job ADD COLUMN attempted_by text[];
