"""A member portal's backend, in Python with grpcio, talking to Social Loans.

Uses only what the README gives a client: the contracts in proto/, the
endpoints, a bearer token per role, and the error model (google.rpc.Status
details: BadRequest field violations, ErrorInfo reasons).

    python portal.py --applications 127.0.0.1:50051 --monitoring 127.0.0.1:50053 \
        --borrower-token "$BORROWER" --analyst-token "$ANALYST" --org 212000-0142

Exits non-zero, saying what differed, if the suite does not behave as documented.
"""

import argparse
import sys
import uuid

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from socialloans.applications.v1 import application_pb2, applications_service_pb2, applications_service_pb2_grpc
from socialloans.applications.v1 import types_pb2 as app_types
from socialloans.common.v1 import types_pb2 as common
from socialloans.monitoring.v1 import monitoring_service_pb2, monitoring_service_pb2_grpc


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)
    print(f"ok  {message}")


def auth(token):
    return (("authorization", f"Bearer {token}"),)


def details(error):
    """The BadRequest field names and the ErrorInfo reason of a failed call."""
    status = rpc_status.from_call(error)
    fields, reason = [], ""
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
    return fields, reason


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--applications", required=True)
    parser.add_argument("--monitoring", required=True)
    parser.add_argument("--borrower-token", required=True)
    parser.add_argument("--analyst-token", required=True)
    parser.add_argument("--org", required=True)
    args = parser.parse_args()

    apps = applications_service_pb2_grpc.ApplicationsServiceStub(grpc.insecure_channel(args.applications))
    monitoring = monitoring_service_pb2_grpc.MonitoringServiceStub(grpc.insecure_channel(args.monitoring))
    borrower, analyst = auth(args.borrower_token), auth(args.analyst_token)

    # A borrower drafts an application for its own organisation.
    draft = application_pb2.Application(
        borrower=application_pb2.Borrower(
            organization_number=args.org,
            display_name="Exempelbostäder AB",
            type=app_types.ORGANIZATION_TYPE_MUNICIPAL_HOUSING_COMPANY,
        ),
        title="Trygghetsvandringar i Centrum",
        requested_amount=common.Money(currency_code="SEK", minor_units=12_500_000_00),
    )
    created = apps.CreateApplication(
        applications_service_pb2.CreateApplicationRequest(request_id=str(uuid.uuid4()), application=draft),
        metadata=borrower,
    ).application
    check(created.name.startswith("applications/"), f"CreateApplication named it {created.name}")
    check(created.state == application_pb2.APPLICATION_STATE_DRAFT, "a new application is a draft")

    # Reading it back, as the borrower and as an analyst.
    got = apps.GetApplication(applications_service_pb2.GetApplicationRequest(name=created.name), metadata=borrower)
    check(got.application.title == draft.title, "GetApplication returns what was drafted")
    listed = apps.ListApplications(applications_service_pb2.ListApplicationsRequest(page_size=50), metadata=analyst)
    check(any(a.name == created.name for a in listed.applications), "an analyst lists it")

    # A retry with the same request_id replays the first answer.
    request_id = str(uuid.uuid4())
    request = applications_service_pb2.CreateApplicationRequest(request_id=request_id, application=draft)
    first = apps.CreateApplication(request, metadata=borrower).application
    again = apps.CreateApplication(request, metadata=borrower).application
    check(first.name == again.name, "a retried create is applied once")

    # Bad input: INVALID_ARGUMENT with the offending fields named.
    bad = application_pb2.Application(
        borrower=application_pb2.Borrower(organization_number=args.org),
        requested_amount=common.Money(currency_code="EUR", minor_units=-1),
    )
    try:
        apps.CreateApplication(
            applications_service_pb2.CreateApplicationRequest(request_id=str(uuid.uuid4()), application=bad),
            metadata=borrower,
        )
        check(False, "a negative amount in EUR is refused")
    except grpc.RpcError as error:
        fields, _ = details(error)
        check(error.code() == grpc.StatusCode.INVALID_ARGUMENT, "bad input is INVALID_ARGUMENT")
        check(any("requested_amount" in f for f in fields), f"the violation names the field: {fields}")

    # Staff may not act for a borrower.
    try:
        apps.SubmitApplication(
            applications_service_pb2.SubmitApplicationRequest(name=created.name, request_id=str(uuid.uuid4())),
            metadata=auth(args.analyst_token),
        )
        check(False, "an analyst may not submit for a borrower")
    except grpc.RpcError as error:
        _, reason = details(error)
        check(error.code() == grpc.StatusCode.PERMISSION_DENIED, f"the wrong role is PERMISSION_DENIED ({reason})")

    # No token at all.
    try:
        apps.ListApplications(applications_service_pb2.ListApplicationsRequest())
        check(False, "a call without a token is refused")
    except grpc.RpcError as error:
        check(error.code() == grpc.StatusCode.UNAUTHENTICATED, "no token is UNAUTHENTICATED")

    # The monitoring service's catalogue, page by page.
    codes, token = [], ""
    while True:
        page = monitoring.ListIndicatorDefinitions(
            monitoring_service_pb2.ListIndicatorDefinitionsRequest(page_size=4, page_token=token), metadata=borrower
        )
        codes += [d.code for d in page.indicator_definitions]
        token = page.next_page_token
        if not token:
            break
    check("homes_renovated" in codes and len(codes) == len(set(codes)), f"the catalogue pages through {len(codes)} indicators")
    print("the Python client talked to the suite as the README says")


if __name__ == "__main__":
    main()
