-- The catalogue speaks Swedish too: each indicator's name in Swedish beside
-- its English one, for the Swedish impact report. Empty: the English name
-- stands in.
ALTER TABLE monitoring.indicator_definition
    ADD COLUMN swedish_display_name text NOT NULL DEFAULT ''
        CONSTRAINT indicator_definition_swedish_display_name_length CHECK (char_length(swedish_display_name) <= 200);

UPDATE monitoring.indicator_definition AS d SET swedish_display_name = s.name
  FROM (VALUES
    ('homes_renovated', 'Renoverade bostäder'),
    ('tenants_remaining_share', 'Andel hyresgäster som bor kvar efter renovering'),
    ('tenant_dialogue_participants', 'Boende som deltar i boendedialoger'),
    ('rent_increase_share', 'Genomsnittlig hyreshöjning efter renovering'),
    ('reported_safety', 'Boende som känner sig trygga i sitt område'),
    ('reported_incidents', 'Anmälda brott och skadegörelse'),
    ('accessible_entrances', 'Tillgänglighetsanpassade entréer'),
    ('jobs_created', 'Arbetstillfällen för målgruppen'),
    ('local_services_established', 'Nyetablerad närservice'),
    ('target_group_reached', 'Personer i målgruppen som nåtts'),
    ('activity_participants', 'Deltagare i idrotts- och kulturaktiviteter')
  ) AS s(code, name)
 WHERE d.code = s.code AND d.swedish_display_name = '';
