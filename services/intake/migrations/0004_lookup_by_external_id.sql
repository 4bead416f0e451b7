-- A publishing system finds its complaint by its own id (GET /v1/complaints?source=…&externalId=…)
-- without knowing the hotel: the unique constraint leads with hotel_id, so it needs its own index.
CREATE INDEX IF NOT EXISTS complaints_by_source_external_id ON complaints (source, external_id);
