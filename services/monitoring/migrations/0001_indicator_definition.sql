-- The indicator catalogue: what outcomes can be measured, in which unit, and
-- which way is better.
CREATE TABLE monitoring.indicator_definition (
    code         text        PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{1,62}$'),
    display_name text        NOT NULL,
    unit         text        NOT NULL,
    direction    text        NOT NULL CHECK (direction IN ('HIGHER_IS_BETTER', 'LOWER_IS_BETTER')),
    level        text        NOT NULL CHECK (level IN ('OUTPUT', 'OUTCOME', 'IMPACT')),
    category     text        NOT NULL CHECK (category IN (
                     'HOUSING_AND_RESIDENTIAL_ENVIRONMENTS',
                     'SAFETY_SECURITY_AND_ACCESSIBILITY',
                     'HEALTH_EDUCATION_SPORT_AND_CULTURE')),
    sdg_targets  text[]      NOT NULL DEFAULT '{}',
    description  text        NOT NULL DEFAULT '',
    create_time  timestamptz NOT NULL DEFAULT now()
);

-- A starting set for the three categories; analysts extend it.
INSERT INTO monitoring.indicator_definition (code, display_name, unit, direction, level, category, sdg_targets, description) VALUES
('homes_renovated', 'Homes renovated', 'homes', 'HIGHER_IS_BETTER', 'OUTPUT', 'HOUSING_AND_RESIDENTIAL_ENVIRONMENTS', '{11.1}', 'Dwellings whose renovation was completed in the period.'),
('tenants_remaining_share', 'Share of tenants remaining after renovation', 'percent', 'HIGHER_IS_BETTER', 'OUTCOME', 'HOUSING_AND_RESIDENTIAL_ENVIRONMENTS', '{11.1,10.2}', 'Households living in the building before renovation that still live there after it.'),
('tenant_dialogue_participants', 'Residents taking part in tenant dialogues', 'persons', 'HIGHER_IS_BETTER', 'OUTPUT', 'HOUSING_AND_RESIDENTIAL_ENVIRONMENTS', '{11.3,16.7}', 'Residents who took part in at least one dialogue meeting.'),
('rent_increase_share', 'Average rent increase after renovation', 'percent', 'LOWER_IS_BETTER', 'OUTCOME', 'HOUSING_AND_RESIDENTIAL_ENVIRONMENTS', '{11.1}', 'Average rent increase for renovated homes.'),
('reported_safety', 'Residents who feel safe in their area', 'percent', 'HIGHER_IS_BETTER', 'OUTCOME', 'SAFETY_SECURITY_AND_ACCESSIBILITY', '{16.1,11.7}', 'Share answering that they feel safe outdoors at night, from a resident survey.'),
('reported_incidents', 'Reported incidents of crime and vandalism', 'incidents per year', 'LOWER_IS_BETTER', 'OUTCOME', 'SAFETY_SECURITY_AND_ACCESSIBILITY', '{16.1}', 'Incidents reported to the landlord or the police in the area.'),
('accessible_entrances', 'Entrances made accessible', 'entrances', 'HIGHER_IS_BETTER', 'OUTPUT', 'SAFETY_SECURITY_AND_ACCESSIBILITY', '{11.2,11.7}', 'Entrances adapted for people with reduced mobility.'),
('jobs_created', 'Jobs created for the target group', 'jobs', 'HIGHER_IS_BETTER', 'OUTCOME', 'HEALTH_EDUCATION_SPORT_AND_CULTURE', '{8.5,8.6}', 'Employments, traineeships and summer jobs given to residents of the area.'),
('local_services_established', 'Local services established', 'services', 'HIGHER_IS_BETTER', 'OUTPUT', 'HEALTH_EDUCATION_SPORT_AND_CULTURE', '{11.3}', 'Public or commercial services opened in the area (health centre, library, shop).'),
('target_group_reached', 'People reached in the target group', 'persons', 'HIGHER_IS_BETTER', 'OUTPUT', 'HEALTH_EDUCATION_SPORT_AND_CULTURE', '{10.2}', 'People in the defined target group who used the financed facility or activity.'),
('activity_participants', 'Participants in sport and culture activities', 'persons per year', 'HIGHER_IS_BETTER', 'OUTCOME', 'HEALTH_EDUCATION_SPORT_AND_CULTURE', '{3.4,4.1}', 'Unique participants in activities held in the financed premises.');

CREATE INDEX indicator_definition_create_time_code_idx ON monitoring.indicator_definition (create_time, code);
