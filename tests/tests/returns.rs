//! Returns at any point before the decision (issue 18, item 7): a referred
//! application whose case is on no agenda is returned to the borrower; the
//! committee pauses the case and takes it up again, with the completed
//! application, when it is referred anew. Once the case is on a meeting's
//! agenda the return is refused, until the secretary takes it off.

use std::time::Duration;

use e2e::{
    Db, channel,
    flow::{as_borrower, refer, rid, staff},
    pilots, reason, specs, start_all,
};
use socialloans_contracts::{
    applications::{self as ap, ApplicationState as S, applications_service_client::ApplicationsServiceClient},
    committee::{self as cm, committee_service_client::CommitteeServiceClient},
    common,
};
use socialloans_platform::Role;
use tonic::{Code, transport::Channel};

async fn case_until(
    committee: &mut CommitteeServiceClient<Channel>,
    application: &str,
    done: impl Fn(&cm::Case) -> bool,
) -> cm::Case {
    for _ in 0..200 {
        let request = cm::ListCasesRequest { application: application.into(), ..Default::default() };
        let cases = committee.list_cases(staff(request, Role::CommitteeSecretary)).await.unwrap().into_inner().cases;
        if let Some(case) = cases.into_iter().find(|c| done(c)) {
            return case;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the case of {application} never got there");
}

async fn application_until(
    apps: &mut ApplicationsServiceClient<Channel>,
    name: &str,
    done: impl Fn(&ap::Application) -> bool,
) -> ap::Application {
    for _ in 0..200 {
        let request = ap::GetApplicationRequest { name: name.into() };
        let got = apps.get_application(staff(request, Role::Analyst)).await.unwrap().into_inner().application.unwrap();
        if done(&got) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} never got there");
}

fn back(name: &str) -> ap::ReturnApplicationForCompletionRequest {
    ap::ReturnApplicationForCompletionRequest {
        name: name.into(),
        etag: String::new(),
        request_id: rid(),
        comments: vec![common::FieldComment { field_path: "title".into(), comment: "Ange etapp".into() }],
        message: "Komplettera titeln innan nämnden tar upp ärendet".into(),
    }
}

#[tokio::test]
async fn a_referred_application_off_the_agenda_is_returned_and_its_case_paused_and_taken_up_again() {
    let db = Db::prepared(&specs()).await;
    let (running, _) = start_all(&db).await;
    let apps = &mut ApplicationsServiceClient::new(channel(running[0].grpc_addr).await);
    let committee = &mut CommitteeServiceClient::new(channel(running[1].grpc_addr).await);

    let eidar = refer(apps, pilots::eidar()).await;
    let case = case_until(committee, &eidar, |c| c.state == cm::CaseState::Open as i32).await;
    application_until(apps, &eidar, |a| a.committee_case == case.name).await;

    // On a meeting's agenda, the committee has it: the return is refused.
    let meeting = cm::Meeting {
        title: "Nämndens möte".into(),
        start_time: Some(prost_types::Timestamp { seconds: 1_830_000_000, nanos: 0 }),
        ..Default::default()
    };
    let meeting = committee
        .create_meeting(staff(
            cm::CreateMeetingRequest { request_id: rid(), meeting: Some(meeting) },
            Role::CommitteeSecretary,
        ))
        .await
        .unwrap()
        .into_inner()
        .meeting
        .unwrap();
    let add = cm::AddAgendaItemRequest {
        name: meeting.name.clone(),
        request_id: rid(),
        case: case.name.clone(),
        ..Default::default()
    };
    committee.add_agenda_item(staff(add, Role::CommitteeSecretary)).await.unwrap();
    application_until(apps, &eidar, |a| a.committee_meeting == meeting.name).await;
    let refused = apps.return_application_for_completion(staff(back(&eidar), Role::Analyst)).await.unwrap_err();
    assert_eq!((refused.code(), reason(&refused).as_str()), (Code::FailedPrecondition, "CASE_ON_AGENDA"));
    let still = application_until(apps, &eidar, |_| true).await;
    assert_eq!(still.state, S::ReferredToCommittee as i32, "a refused return changes nothing");

    // Taken off the agenda, it may be returned: the case pauses.
    let remove = cm::RemoveAgendaItemRequest {
        name: meeting.name.clone(),
        request_id: rid(),
        case: case.name.clone(),
        ..Default::default()
    };
    committee.remove_agenda_item(staff(remove, Role::CommitteeSecretary)).await.unwrap();
    application_until(apps, &eidar, |a| a.committee_meeting.is_empty()).await;
    let returned = apps.return_application_for_completion(staff(back(&eidar), Role::Analyst)).await.unwrap();
    let returned = returned.into_inner().application.unwrap();
    assert_eq!(returned.state, S::ReturnedForCompletion as i32);
    let paused = case_until(committee, &eidar, |c| c.state == cm::CaseState::Returned as i32).await;
    assert_eq!(paused.name, case.name);
    // A paused case takes no agenda place.
    let add = cm::AddAgendaItemRequest {
        name: meeting.name.clone(),
        request_id: rid(),
        case: case.name.clone(),
        ..Default::default()
    };
    let busy = committee.add_agenda_item(staff(add, Role::CommitteeSecretary)).await.unwrap_err();
    assert_eq!(reason(&busy), "CASE_NOT_OPEN");

    // The borrower completes and resubmits; reviewed and referred again, the
    // same case is open again and holds the completed application.
    let title = "Eidarcentrum etapp 1: lokaler för socialt företagande".to_owned();
    let update = ap::UpdateApplicationRequest {
        application: Some(ap::Application { name: eidar.clone(), title: title.clone(), ..Default::default() }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["title".into()] }),
        request_id: rid(),
        etag: returned.etag.clone(),
    };
    apps.update_application(as_borrower(pilots::EIDAR, update)).await.unwrap();
    let submit = ap::SubmitApplicationRequest { name: eidar.clone(), request_id: rid(), ..Default::default() };
    apps.submit_application(as_borrower(pilots::EIDAR, submit)).await.unwrap();
    let review = ap::StartReviewRequest { name: eidar.clone(), request_id: rid(), ..Default::default() };
    apps.start_review(staff(review, Role::Analyst)).await.unwrap();
    let again = ap::ReferApplicationToCommitteeRequest {
        name: eidar.clone(),
        request_id: rid(),
        referral_note: "Kompletterad".into(),
        ..Default::default()
    };
    apps.refer_application_to_committee(staff(again, Role::Analyst)).await.unwrap();
    let reopened = case_until(committee, &eidar, |c| c.state == cm::CaseState::Open as i32).await;
    assert_eq!((reopened.name.as_str(), reopened.title.as_str()), (case.name.as_str(), title.as_str()));
    assert_eq!(reopened.referral_note, "Kompletterad");
    let cases = committee
        .list_cases(staff(cm::ListCasesRequest { application: eidar.clone(), ..Default::default() }, Role::Auditor))
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert_eq!(cases.len(), 1, "one case per application, taken up again");

    for service in running.into_iter().rev() {
        service.stop().await.unwrap();
    }
}
