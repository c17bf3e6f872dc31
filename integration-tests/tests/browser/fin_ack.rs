//! Our node's own requests to the page. rust-libp2p 0.57's libp2p-webrtc (its
//! webrtc-utils 0.5) knows the stream flags FIN, STOP_SENDING and RESET, not
//! the FIN_ACK the spec added later (rust-libp2p issue 4600). js-libp2p
//! answers every FIN with a FIN_ACK, which our side fails to decode
//! ("unknown enumeration value 3"): a request that closes its write side
//! before it reads the answer (our echo; request-response does the same)
//! fails. Only that stream fails; the connection lives on. When this test
//! fails because the echo works, libp2p-webrtc has learnt FIN_ACK.

use super::*;

#[tokio::test]
async fn a_request_from_our_node_fails_on_the_pages_fin_ack_and_only_that_stream() {
    init();
    let Some(dir) = page::ready() else { return };
    let mut node = policy_node(Config::default()).await;
    let (mut browser, peer, connection) =
        connect_browser(&mut node, &dir, PageOptions::default()).await;

    match echo_to_page(&mut node, peer, connection).await {
        Err(echo::EchoError::Io(e)) if e.contains("unknown enumeration value 3") => {}
        Ok(rtt) => panic!(
            "our echo to the page worked ({rtt:?}): libp2p-webrtc now takes js-libp2p's \
             FIN_ACK; update this test and docs/interop.md"
        ),
        Err(other) => panic!("our echo to the page failed otherwise: {other}"),
    }
    // The page got the request and answered it.
    browser
        .wait_state(ECHO, "the page served our echo", |s| s.served() >= 1)
        .await;
    // The connection is unharmed: the page's own echo still works on it.
    browser.command("echo", ECHO).await;
    assert_eq!(browser.state.connections(), 1, "{}", browser.state.json);
    node.expect_none(Duration::from_millis(100), "a close", |event| {
        matches!(event, SwarmEvent::ConnectionClosed { .. }).then_some(())
    })
    .await
    .unwrap();
}
