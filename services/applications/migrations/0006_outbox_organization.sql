-- Events written before the outbox knew their organisation get it from their
-- application (every event of this service is about one), so that a
-- borrower's feed holds its whole history.
UPDATE applications.outbox AS o
   SET organization_number = a.organization_number
  FROM applications.application AS a
 WHERE o.organization_number IS NULL
   AND o.aggregate = 'applications/' || a.id::text;
