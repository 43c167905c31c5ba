//! Jobs of the NLB API: GetJobStatus, ListAsynJobs.
use serde::{Deserialize, Serialize};

use super::not_found;
use crate::{
    api::{ApiError, Product},
    model::NlbJob,
    service::{Action, Draft},
};

fn job<'a>(d: &'a Draft, id: &str) -> Option<&'a NlbJob> {
    d.model.nlb_job(id).filter(|j| d.caller.owns(&j.owner_id))
}

/// GetJobStatus.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetJobStatus {
    job_id: String,
}

/// GetJobStatus' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetJobStatusResponse {
    status: &'static str,
}

impl Action for GetJobStatus {
    const NAME: &'static str = "GetJobStatus";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = false;
    const SUMMARY: &'static str =
        "Shows the status of a job a change answered with (Succeeded once the answer was given).";
    type Response = GetJobStatusResponse;

    fn run(self, d: &mut Draft) -> Result<GetJobStatusResponse, ApiError> {
        if self.job_id.is_empty() {
            return Err(ApiError::missing("JobId"));
        }
        let j = job(d, &self.job_id).ok_or_else(|| not_found("job", &self.job_id))?;
        Ok(GetJobStatusResponse {
            status: j.status.as_str(),
        })
    }
}

/// ListAsynJobs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAsynJobs {
    #[serde(default)]
    job_ids: Vec<String>,
}

/// One job in ListAsynJobs.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListedJob {
    id: String,
    status: &'static str,
}

/// ListAsynJobs' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAsynJobsResponse {
    jobs: Vec<ListedJob>,
    /// A string in this answer's SDK model.
    total_count: String,
}

impl Action for ListAsynJobs {
    const NAME: &'static str = "ListAsynJobs";
    const PRODUCT: Product = Product::Nlb;
    const MUTATES: bool = false;
    const SUMMARY: &'static str =
        "Shows the status of jobs by id (without ids: the caller's recent jobs, newest first).";
    type Response = ListAsynJobsResponse;

    fn run(self, d: &mut Draft) -> Result<ListAsynJobsResponse, ApiError> {
        let jobs: Vec<ListedJob> = if self.job_ids.is_empty() {
            d.model
                .nlb_jobs
                .iter()
                .rev()
                .filter(|j| d.caller.owns(&j.owner_id))
                .take(100)
                .map(|j| ListedJob {
                    id: j.id.clone(),
                    status: j.status.as_str(),
                })
                .collect()
        } else {
            if self.job_ids.len() > 100 {
                return Err(super::illegal("JobIds", "at most 100 ids"));
            }
            self.job_ids
                .iter()
                .filter_map(|id| job(d, id))
                .map(|j| ListedJob {
                    id: j.id.clone(),
                    status: j.status.as_str(),
                })
                .collect()
        };
        Ok(ListAsynJobsResponse {
            total_count: jobs.len().to_string(),
            jobs,
        })
    }
}
