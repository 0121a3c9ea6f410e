-- Events written before the outbox knew their organisation get it from their
-- plan: every event of this service is about a plan or something in it
-- ("monitoringPlans/{id}" or "monitoringPlans/{id}/…").
UPDATE monitoring.outbox AS o
   SET organization_number = p.organization_number
  FROM monitoring.monitoring_plan AS p
 WHERE o.organization_number IS NULL
   AND split_part(o.aggregate, '/', 1) = 'monitoringPlans'
   AND split_part(o.aggregate, '/', 2) = p.id::text;
