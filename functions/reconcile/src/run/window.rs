//! Paging one created-time window of Mesh's listing to its end, checkpointing after each applied page
//! so the next run resumes where this one stopped.

use super::{CallError, Run, Stop};
use crate::lease::{Checkpoint, LeaseStore, WindowCursor};
use crate::plan::window_query;
use shared::runtime::secrets::SecretSource;
use shared::storage::{CheckoutStore, TransferStore};

impl<T: TransferStore + CheckoutStore, L: LeaseStore, S: SecretSource> Run<'_, '_, T, L, S> {
    /// Pages a window to its end, checkpointing after each applied page.
    pub(super) async fn page(&mut self, window: WindowCursor) -> Result<(), Stop> {
        let mesh = self.r.mesh;
        let page_size = self.r.settings.page_size;
        let mut offset = window.offset;
        self.summary.window = Some(window);
        self.listed = 0;
        'credentials: loop {
            let creds = self.creds.clone();
            let mut pages =
                mesh.transfer_pages(&creds, window_query(&WindowCursor { offset, ..window }, page_size, self.unit));
            while !pages.is_done() {
                let at = WindowCursor { offset: pages.offset(), ..window };
                self.summary.window = Some(at);
                if let Err(stop) = self.ensure_time().and_then(|()| self.ensure_page_budget()) {
                    self.save_unfinished(at).await?;
                    return Err(stop);
                }
                let items = match self.retrying(async || pages.next_page().await).await {
                    Ok(Some(items)) => items,
                    Ok(None) => break,
                    Err(CallError::Unauthorized) => {
                        offset = pages.offset();
                        self.refresh_credentials().await?;
                        continue 'credentials;
                    }
                    Err(CallError::Stop(stop)) => {
                        self.save_unfinished(at).await?;
                        return Err(stop);
                    }
                };
                self.summary.pages += 1;
                self.listed += items.len() as u64;
                for item in &items {
                    self.apply(item).await?;
                }
                let next = WindowCursor { offset: pages.offset(), ..window };
                self.summary.window = Some(next);
                if !pages.is_done() {
                    self.save_unfinished(next).await?;
                }
            }
            break;
        }
        let scanned_until = self.checkpoint.scanned_until.map_or(window.to_ms, |s| s.max(window.to_ms));
        self.checkpoint = Checkpoint { scanned_until: Some(scanned_until), unfinished: None, ..self.checkpoint };
        self.r.leases.save_checkpoint(&self.lease, &self.checkpoint, shared::domain::time::now_millis()).await?;
        Ok(())
    }

    pub(super) fn ensure_page_budget(&self) -> Result<(), Stop> {
        if self.summary.pages >= u64::from(self.r.settings.max_pages) {
            tracing::warn!(max_pages = self.r.settings.max_pages, "page cap reached; the next run resumes here");
            return Err(Stop::PageCap);
        }
        Ok(())
    }

    pub(super) async fn save_unfinished(&mut self, at: WindowCursor) -> Result<(), Stop> {
        self.checkpoint.unfinished = Some(at);
        self.r.leases.save_checkpoint(&self.lease, &self.checkpoint, shared::domain::time::now_millis()).await?;
        Ok(())
    }
}
