//! What a user builds with the facade: the bundle as the whole behaviour or as
//! one field of their own, with any Kademlia record store, and never with
//! stream-quota silently missing from the transport.

use libp2p::{
    identity::Keypair,
    kad::{
        self,
        store::{MemoryStore, RecordStore},
    },
    ping, quic,
    swarm::NetworkBehaviour,
    PeerId,
};
use transport_policies::{
    stream_quota::{self, Quota},
    Config, ConfigError, Event, Policies,
};

#[derive(NetworkBehaviour)]
struct App {
    ping: ping::Behaviour,
}

fn app() -> App {
    App {
        ping: ping::Behaviour::default(),
    }
}

/// The bundle beside another behaviour in the user's own derived one.
#[derive(NetworkBehaviour)]
struct Node {
    policies: Policies<App>,
    ping: ping::Behaviour,
}

#[test]
fn the_bundle_is_a_field_of_a_derived_behaviour() {
    let node = Node {
        policies: Policies::new(app(), Config::default()).unwrap(),
        ping: ping::Behaviour::default(),
    };
    // The derive's event carries the bundle's flat event one level down.
    fn on_event(event: NodeEvent) -> bool {
        matches!(event, NodeEvent::Policies(Event::App(AppEvent::Ping(_))))
    }
    let _ = (node, on_event);
}

#[test]
fn stream_quota_without_its_transport_layer_is_a_typed_error() {
    let quota = Quota::new(stream_quota::Config::default()).unwrap();
    let config = Config::default().with_stream_quota(Some(quota.clone()));
    assert!(matches!(
        Policies::new(app(), config.clone()),
        Err(ConfigError::StreamQuotaNotInTransport)
    ));

    let key = Keypair::generate_ed25519();
    let _transport = quota.transport(quic::tokio::Transport::new(quic::Config::new(&key)));
    assert!(Policies::new(app(), config).is_ok());
}

#[test]
fn kademlia_needs_rebootstrap_and_rebootstrap_needs_kademlia() {
    let peer = PeerId::random();
    let kad = kad::Behaviour::new(peer, MemoryStore::new(peer));
    assert!(matches!(
        Policies::with_kad(app(), kad, Config::default()),
        Err(ConfigError::KadWithoutRebootstrap)
    ));
    assert!(matches!(
        Policies::new(app(), Config::quic_dht_server(Vec::new())),
        Err(ConfigError::RebootstrapWithoutKad)
    ));
}

/// A record store of the application's own: a `MemoryStore` that counts the
/// records put into it.
struct CountingStore {
    inner: MemoryStore,
    puts: usize,
}

impl RecordStore for CountingStore {
    type RecordsIter<'a> = <MemoryStore as RecordStore>::RecordsIter<'a>;
    type ProvidedIter<'a> = <MemoryStore as RecordStore>::ProvidedIter<'a>;

    fn get(&self, k: &kad::RecordKey) -> Option<std::borrow::Cow<'_, kad::Record>> {
        self.inner.get(k)
    }
    fn put(&mut self, r: kad::Record) -> kad::store::Result<()> {
        self.puts += 1;
        self.inner.put(r)
    }
    fn remove(&mut self, k: &kad::RecordKey) {
        self.inner.remove(k)
    }
    fn records(&self) -> Self::RecordsIter<'_> {
        self.inner.records()
    }
    fn add_provider(&mut self, record: kad::ProviderRecord) -> kad::store::Result<()> {
        self.inner.add_provider(record)
    }
    fn providers(&self, key: &kad::RecordKey) -> Vec<kad::ProviderRecord> {
        self.inner.providers(key)
    }
    fn provided(&self) -> Self::ProvidedIter<'_> {
        self.inner.provided()
    }
    fn remove_provider(&mut self, k: &kad::RecordKey, p: &PeerId) {
        self.inner.remove_provider(k, p)
    }
}

#[test]
fn kademlia_with_the_applications_own_record_store() {
    let peer = PeerId::random();
    let store = CountingStore {
        inner: MemoryStore::new(peer),
        puts: 0,
    };
    let kad = kad::Behaviour::new(peer, store);
    let mut policies: Policies<App, CountingStore> =
        Policies::with_kad(app(), kad, Config::quic_dht_server(Vec::new())).unwrap();
    let record = kad::Record::new(b"key".to_vec(), b"value".to_vec());
    policies
        .kad_mut()
        .unwrap()
        .put_record(record, kad::Quorum::One)
        .unwrap();
    assert_eq!(policies.kad_mut().unwrap().store_mut().puts, 1);
}
