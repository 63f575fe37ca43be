//! Bounded concurrency without another dependency: run futures in groups of `limit`.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// Polls every future to completion and returns the outputs in input order.
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(v) => *output = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future completed"))
        .collect()
}

/// At most `limit` in flight (in groups), outputs in input order.
pub async fn join_bounded<F: Future>(futures: Vec<F>, limit: usize) -> Vec<F::Output> {
    let mut out = Vec::with_capacity(futures.len());
    let mut rest = futures.into_iter().peekable();
    while rest.peek().is_some() {
        let group: Vec<F> = rest.by_ref().take(limit.max(1)).collect();
        out.extend(join_all(group).await);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_order_and_runs_everything() {
        let futures: Vec<_> = (0..10u64)
            .map(|i| async move {
                tokio::time::sleep(std::time::Duration::from_millis(10 - i)).await;
                i
            })
            .collect();
        assert_eq!(join_bounded(futures, 3).await, (0..10).collect::<Vec<_>>());
        assert!(join_bounded(Vec::<std::future::Ready<u8>>::new(), 3)
            .await
            .is_empty());
    }
}
