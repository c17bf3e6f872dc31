//! A reloaded page is a new js-libp2p node. Its new connection works at once;
//! its old one goes. With the key kept in localStorage the peer id is the
//! same, but js does not speak state-isolation's exchange, so that policy
//! cannot judge: conn-prune probes the older connection at once when the
//! newer one is established, and prunes it, because the reload closed it. Two
//! live tabs with one kept key are two live connections: both are kept.

use super::*;

/// Reloads the page and waits for its first echo; returns our new connection
/// and the time from the reload command to that connection.
async fn reload(
    node: &mut PolicyNode,
    browser: &mut Browser,
    old_peer: PeerId,
    keep_key: bool,
) -> (PeerId, ConnectionId, Instant) {
    browser.command("reload", CONNECT).await;
    let state = browser
        .wait_state(CONNECT, "the reloaded page's first echo", |s| {
            s.phase() == "echoed" && (s.key_kept() || s.peer_id() != Some(old_peer))
        })
        .await;
    assert_eq!(state.key_kept(), keep_key, "{}", state.json);
    let peer = state.peer_id().unwrap();
    assert_eq!(peer == old_peer, keep_key, "{}", state.json);
    let connection = node.wait_established(peer, CONNECT).await.unwrap();
    (peer, connection, Instant::now())
}

#[tokio::test]
async fn a_reload_with_its_kept_key_works_at_once_and_its_old_connection_is_pruned() {
    init();
    let Some(dir) = page::ready() else { return };
    let config = Config::default();
    let mut node = policy_node(config.clone()).await;
    let (mut browser, peer, old) = connect_browser(
        &mut node,
        &dir,
        PageOptions {
            keep_key: true,
            ..PageOptions::default()
        },
    )
    .await;
    wait_status(&node, old, Status::Unsupported).await;

    let (same, new, established) = reload(&mut node, &mut browser, peer, true).await;
    assert_eq!(same, peer);
    eprintln!(
        "reloaded, same peer id: the page's echo on its new connection took {:?} ms (dial included)",
        browser.state.field("lastEchoMs")
    );
    wait_status(&node, new, Status::Unsupported).await;

    // The newer connection makes conn-prune probe the older one at once.
    let closed = wait_closed(&mut node, old, bound(&config), established).await;
    eprintln!("old connection: {}", closed.how());
    let (reason, evidence) = closed.pruned.expect("conn-prune pruned the old connection");
    assert_eq!(
        evidence.trigger,
        conn_prune::Trigger::NewerConnection,
        "{reason:?}"
    );
    assert_eq!(
        node.with(move |s| s.behaviour().isolated.current_connections(&peer))
            .await,
        vec![new]
    );
    // Nothing replaced: the policy never judged either connection.
    node.expect_none(Duration::from_millis(100), "a replacement", |event| {
        matches!(
            event,
            SwarmEvent::Behaviour(PoliciesEvent::Isolated(
                state_isolation::Event::Replaced(_) | state_isolation::Event::Stale { .. }
            ))
        )
        .then_some(())
    })
    .await
    .unwrap();
    browser.command("echo", ECHO).await;
    assert_eq!(browser.state.connections(), 1, "{}", browser.state.json);
}

#[tokio::test]
async fn a_reload_with_a_new_key_works_at_once_and_its_old_connection_is_pruned() {
    init();
    let Some(dir) = page::ready() else { return };
    let config = Config::default();
    let mut node = policy_node(config.clone()).await;
    let (mut browser, old_peer, old) =
        connect_browser(&mut node, &dir, PageOptions::default()).await;
    let reloaded = Instant::now();
    let (peer, new, _) = reload(&mut node, &mut browser, old_peer, false).await;
    wait_status(&node, new, Status::Unsupported).await;
    assert!(node.with(move |s| s.is_connected(&peer)).await);

    // Another peer as far as the node knows: the old connection is found on
    // its probe schedule.
    let closed = wait_closed(&mut node, old, bound(&config), reloaded).await;
    eprintln!(
        "reloaded with a new peer id; old connection: {}",
        closed.how()
    );
    assert!(closed.pruned.is_some(), "{closed:?}");
    assert!(!node.with(move |s| s.is_connected(&old_peer)).await);
}

#[tokio::test]
async fn two_live_tabs_with_one_kept_key_are_both_kept() {
    init();
    let Some(dir) = page::ready() else { return };
    let mut node = policy_node(Config::default()).await;
    let (mut browser, peer, first) = connect_browser(
        &mut node,
        &dir,
        PageOptions {
            keep_key: true,
            ..PageOptions::default()
        },
    )
    .await;
    let answered_before = stats(&node, first).await.unwrap().probes_answered;

    // A second tab of the same browser: the key from localStorage, the same peer id.
    browser.command("open-tab", CONNECT).await;
    browser
        .wait_state(CONNECT, "the second tab's first echo", |s| {
            s.key_kept() && s.echoes_ok() >= 1
        })
        .await;
    let second = node.wait_established(peer, CONNECT).await.unwrap();
    // The newer connection makes conn-prune probe the older one at once; it answers.
    let answered = node
        .wait_until(
            Duration::from_secs(2),
            "the older connection probed",
            move |s| {
                s.behaviour()
                    .prune
                    .stats(first)
                    .filter(|stats| stats.probes_answered > answered_before)
            },
        )
        .await
        .unwrap();
    assert_kept(&mut node, Duration::from_secs(1)).await;
    let mut current = node
        .with(move |s| s.behaviour().isolated.current_connections(&peer))
        .await;
    current.sort();
    let mut both = vec![first, second];
    both.sort();
    assert_eq!(current, both);
    eprintln!("two tabs, one peer id: both connections kept; the older one answered {answered:?}");
}
