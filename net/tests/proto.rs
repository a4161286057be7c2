//! The replication protocol between in-memory peers, with no sockets: members sync both ways,
//! outsiders and impostors get no content, readers' updates are refused, removed members are
//! denied, hostile bytes are errors that change nothing. The session touches no replica: a
//! [`Peer`] here does its ECHO work as the driver does (`driver::carry_out`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use dxos_echo::{Query, Space, SpaceOptions, UpdateOrigin};
use dxos_halo::testing::Person;
use dxos_halo::{Claim, Credential, IdentityState, KeyPair, PublicKey, Role, SpaceState};
use dxos_net::replicate::driver::carry_out;
use dxos_net::replicate::proto::{Action, EchoAction, ProtoError, Session, Wire, discovery_key};
use proptest::prelude::*;
use yrs::sync::protocol::SyncMessage;
use yrs::updates::encoder::Encode;

/// A space, its owner, and the public credentials that found it.
struct World {
    key: KeyPair,
    owner: Person,
    founding: Vec<Credential>,
}

impl World {
    fn new() -> World {
        let key = KeyPair::generate();
        let owner = Person::new();
        let s = *key.public().as_bytes();
        let founding = vec![
            Credential::issue(Claim::SpaceGenesis { space: s }, &key, None, 3),
            Credential::issue(
                Claim::SpaceMember { space: s, identity: *owner.root.public().as_bytes(), role: Role::Owner },
                &key,
                None,
                4,
            ),
        ];
        World { key, owner, founding }
    }

    fn admit(&self, who: &Person, role: Role, at: u64) -> Credential {
        Credential::issue(
            Claim::SpaceMember { space: *self.key.public().as_bytes(), identity: *who.root.public().as_bytes(), role },
            &self.owner.device,
            Some(self.owner.auth()),
            at,
        )
    }

    fn state(&self, creds: &[&Credential]) -> SpaceState {
        let mut s = SpaceState::new(self.key.public());
        for c in creds {
            let _ = s.apply((*c).clone());
        }
        s
    }
}

/// A session and the replicas its ECHO work runs on, as the driver keeps them.
struct Peer {
    session: Session,
    spaces: Vec<Space>,
    source: u64,
}

impl Peer {
    fn new(local: PublicKey, peer: PublicKey, source: u64, spaces: Vec<(Space, SpaceState)>) -> Peer {
        let (spaces, states): (Vec<Space>, Vec<SpaceState>) = spaces.into_iter().unzip();
        Peer { session: Session::new(local, peer, source, states), spaces, source }
    }

    fn with_identity(mut self, identity: IdentityState) -> Peer {
        self.session = self.session.with_identity(identity);
        self
    }

    /// Does the ECHO work among `actions` (and what it yields); the rest stays.
    fn perform(&self, actions: Vec<Action>) -> Result<Vec<Action>, ProtoError> {
        let mut out = Vec::new();
        for a in actions {
            match a {
                Action::Echo(work) => {
                    let space = self.spaces.iter().find(|s| s.id() == work.space());
                    let space = space.unwrap_or_else(|| panic!("no replica of {}", work.space()));
                    out.extend(self.perform(carry_out(space, work, self.source)?)?);
                }
                other => out.push(other),
            }
        }
        Ok(out)
    }

    fn start(&mut self) -> Vec<Action> {
        let a = self.session.start();
        self.perform(a).unwrap_or_else(|e| panic!("{e}"))
    }

    fn receive(&mut self, bytes: &[u8]) -> Result<Vec<Action>, ProtoError> {
        let a = self.session.receive(bytes)?;
        self.perform(a)
    }

    fn local_update(&mut self, space: &PublicKey, update: &[u8], source: Option<u64>) -> Vec<Action> {
        let a = self.session.local_update(space, update, source);
        self.perform(a).unwrap_or_else(|e| panic!("{e}"))
    }

    fn add_space(&mut self, space: Space, members: SpaceState) -> Vec<Action> {
        self.spaces.push(space);
        let a = self.session.add_space(members);
        self.perform(a).unwrap_or_else(|e| panic!("{e}"))
    }

    fn update_members(&mut self, members: SpaceState) -> Vec<Action> {
        let a = self.session.update_members(members);
        self.perform(a).unwrap_or_else(|e| panic!("{e}"))
    }
}

fn replica(id: PublicKey) -> Space {
    Space::in_memory(id, SpaceOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// What one run of two sessions produced: each side's non-send actions and sent messages.
struct Run {
    acts_a: Vec<Action>,
    acts_b: Vec<Action>,
    sent_a: Vec<Wire>,
    sent_b: Vec<Wire>,
}

/// Runs two sessions against each other until quiet.
fn pump(a: &mut Peer, b: &mut Peer) -> Run {
    let (first_a, first_b) = (a.start(), b.start());
    exchange(a, b, first_a, first_b)
}

/// Delivers what each side's actions send, and everything that follows, until quiet.
fn exchange(a: &mut Peer, b: &mut Peer, first_a: Vec<Action>, first_b: Vec<Action>) -> Run {
    let mut run = Run { acts_a: Vec::new(), acts_b: Vec::new(), sent_a: Vec::new(), sent_b: Vec::new() };
    let mut queue: VecDeque<(bool, Wire)> = VecDeque::new(); // (to b, message)
    let route = |acts: Vec<Action>,
                 to_b: bool,
                 q: &mut VecDeque<(bool, Wire)>,
                 keep: &mut Vec<Action>,
                 sent: &mut Vec<Wire>| {
        for act in acts {
            match act {
                Action::Send(w) => {
                    sent.push(w.clone());
                    q.push_back((to_b, w));
                }
                other => keep.push(other),
            }
        }
    };
    route(first_a, true, &mut queue, &mut run.acts_a, &mut run.sent_a);
    route(first_b, false, &mut queue, &mut run.acts_b, &mut run.sent_b);
    while let Some((to_b, w)) = queue.pop_front() {
        let bytes = w.encode();
        if to_b {
            let acts = b.receive(&bytes).unwrap_or_else(|e| panic!("b: {e}"));
            route(acts, false, &mut queue, &mut run.acts_b, &mut run.sent_b);
        } else {
            let acts = a.receive(&bytes).unwrap_or_else(|e| panic!("a: {e}"));
            route(acts, true, &mut queue, &mut run.acts_a, &mut run.sent_a);
        }
    }
    run
}

fn titles(s: &Space) -> Vec<String> {
    s.tasks().into_iter().map(|(_, t)| t.title).collect()
}

fn has_sync(sent: &[Wire]) -> bool {
    sent.iter().any(|w| matches!(w, Wire::Sync { .. }))
}

#[test]
fn members_sync_both_ways_and_live() {
    let w = World::new();
    let guest = Person::new();
    let admit = w.admit(&guest, Role::Editor, 10);
    let (sa, sb) = (replica(w.key.public()), replica(w.key.public()));
    for t in ["milk", "eggs"] {
        sa.add_task(t).unwrap_or_else(|e| panic!("{e}"));
    }
    let owner_view: Vec<&Credential> = w.founding.iter().chain(&w.owner.creds).chain([&admit]).collect();
    let guest_view: Vec<&Credential> = w.founding.iter().chain(&guest.creds).chain([&admit]).collect();
    let mut a = Peer::new(w.owner.device.public(), guest.device.public(), 1, vec![(sa.clone(), w.state(&owner_view))]);
    let mut b = Peer::new(guest.device.public(), w.owner.device.public(), 2, vec![(sb.clone(), w.state(&guest_view))]);
    let run = pump(&mut a, &mut b);
    assert_eq!(titles(&sb), ["milk", "eggs"]);
    assert!(run.acts_a.iter().any(|x| matches!(x, Action::Verified { role: Role::Editor, .. })));
    assert!(run.acts_b.iter().any(|x| matches!(x, Action::Verified { role: Role::Owner, .. })));
    // The guest learned the owner's identity chain (to check it) and may store it.
    assert!(run.acts_b.iter().any(|x| matches!(x, Action::Store { credentials, .. } if !credentials.is_empty())));

    // Live: an edit on B goes to A through B's update stream; it is not echoed back.
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let s2 = seen.clone();
    let _l = sb.on_update(move |u, o| {
        if o == UpdateOrigin::Local {
            s2.lock().unwrap_or_else(|e| e.into_inner()).push(u.to_vec());
        }
    });
    sb.add_task("bread").unwrap_or_else(|e| panic!("{e}"));
    let updates = std::mem::take(&mut *seen.lock().unwrap_or_else(|e| e.into_inner()));
    assert!(!updates.is_empty());
    for u in updates {
        for act in b.local_update(&w.key.public(), &u, None) {
            if let Action::Send(wire) = act {
                a.receive(&wire.encode()).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
    assert_eq!(titles(&sa), ["milk", "eggs", "bread"]);
    assert!(a.local_update(&w.key.public(), b"x", Some(1)).is_empty(), "no echo to the source");
}

#[test]
fn the_session_asks_for_replica_work_and_does_none_itself() {
    let w = World::new();
    let guest = Person::new();
    let admit = w.admit(&guest, Role::Editor, 10);
    let (sa, sb) = (replica(w.key.public()), replica(w.key.public()));
    sa.add_task("milk").unwrap_or_else(|e| panic!("{e}"));
    let owner_view: Vec<&Credential> = w.founding.iter().chain(&w.owner.creds).chain([&admit]).collect();
    let guest_view: Vec<&Credential> = w.founding.iter().chain(&guest.creds).chain([&admit]).collect();
    let mut a = Peer::new(w.owner.device.public(), guest.device.public(), 1, vec![(sa.clone(), w.state(&owner_view))]);
    let mut b = Peer::new(guest.device.public(), w.owner.device.public(), 2, vec![(sb, w.state(&guest_view))]);
    pump(&mut a, &mut b);
    // The guest's edit, handed to the owner's bare session: it says "apply this", and the
    // replica is unchanged until the driver does.
    let edit = replica(w.key.public());
    edit.import(&sa.export().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let sv = edit.state_vector().unwrap_or_default();
    edit.add_task("bread").unwrap_or_else(|e| panic!("{e}"));
    let update = edit.diff(&sv).unwrap_or_default();
    let dk = discovery_key(&w.key.public(), &w.owner.device.public(), &guest.device.public());
    let wire = Wire::Sync { dk, message: SyncMessage::Update(update.clone()).encode_v1() };
    let acts = a.session.receive(&wire.encode()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(acts, vec![Action::Echo(EchoAction::Apply { space: w.key.public(), update, first: false })]);
    assert_eq!(titles(&sa), ["milk"]);
    a.perform(acts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(titles(&sa), ["milk", "bread"]);
}

#[test]
fn an_outsider_learns_nothing() {
    let w = World::new();
    let outsider = Person::new();
    let sa = replica(w.key.public());
    sa.add_task("secret").unwrap_or_else(|e| panic!("{e}"));
    let owner_view: Vec<&Credential> = w.founding.iter().chain(&w.owner.creds).collect();
    let mut a = Peer::new(w.owner.device.public(), outsider.device.public(), 1, vec![(sa, w.state(&owner_view))]);
    let mut c = Peer::new(outsider.device.public(), w.owner.device.public(), 2, Vec::new());
    let run = pump(&mut a, &mut c);
    // Only the discovery keys: a hash the outsider cannot map to a space.
    let dk = discovery_key(&w.key.public(), &w.owner.device.public(), &outsider.device.public());
    assert_eq!(run.sent_a, vec![Wire::Have(vec![dk])]);
    // Salted per pair of devices: the same space has another key on another connection.
    assert_ne!(dk, discovery_key(&w.key.public(), &w.owner.device.public(), &KeyPair::generate().public()));
}

#[test]
fn an_impostor_with_the_space_id_is_denied() {
    let w = World::new();
    let impostor = Person::new();
    let sa = replica(w.key.public());
    sa.add_task("secret").unwrap_or_else(|e| panic!("{e}"));
    let owner_view: Vec<&Credential> = w.founding.iter().chain(&w.owner.creds).collect();
    // The impostor knows the id (and the public founding credentials) and claims membership
    // with a credential it signed itself.
    let forged = Credential::issue(
        Claim::SpaceMember {
            space: *w.key.public().as_bytes(),
            identity: *impostor.root.public().as_bytes(),
            role: Role::Owner,
        },
        &impostor.device,
        Some(impostor.auth()),
        20,
    );
    let impostor_view: Vec<&Credential> = w.founding.iter().chain(&impostor.creds).chain([&forged]).collect();
    let mut a = Peer::new(w.owner.device.public(), impostor.device.public(), 1, vec![(sa, w.state(&owner_view))]);
    let sc = replica(w.key.public());
    let mut c =
        Peer::new(impostor.device.public(), w.owner.device.public(), 2, vec![(sc.clone(), w.state(&impostor_view))]);
    let run = pump(&mut a, &mut c);
    assert!(run.acts_a.iter().any(|x| matches!(x, Action::Denied { .. })));
    assert!(!has_sync(&run.sent_a), "no content goes to an impostor");
    assert!(sc.tasks().is_empty());
}

#[test]
fn readers_updates_are_refused_and_removed_members_denied() {
    let w = World::new();
    let reader = Person::new();
    let admit = w.admit(&reader, Role::Reader, 10);
    let (sa, sb) = (replica(w.key.public()), replica(w.key.public()));
    sa.add_task("read me").unwrap_or_else(|e| panic!("{e}"));
    let owner_view: Vec<&Credential> = w.founding.iter().chain(&w.owner.creds).chain([&admit]).collect();
    let reader_view: Vec<&Credential> = w.founding.iter().chain(&reader.creds).chain([&admit]).collect();
    // A write the reader made anyway, sent as a sync update.
    let rogue = replica(w.key.public());
    rogue.add_task("rogue").unwrap_or_else(|e| panic!("{e}"));
    let rogue_update = rogue.export().unwrap_or_default();
    let mut a = Peer::new(w.owner.device.public(), reader.device.public(), 1, vec![(sa.clone(), w.state(&owner_view))]);
    let mut b =
        Peer::new(reader.device.public(), w.owner.device.public(), 2, vec![(sb.clone(), w.state(&reader_view))]);
    let run = pump(&mut a, &mut b);
    assert_eq!(titles(&sb), ["read me"], "the reader receives");
    // y-sync tags: 0 = state vector, 1 = missing updates, 2 = update. A reader sends only 0.
    assert!(
        !run.sent_b.iter().any(|w| matches!(w, Wire::Sync { message, .. } if message.first() != Some(&0))),
        "a reader sends no updates"
    );
    assert!(b.local_update(&w.key.public(), b"anything", None).is_empty());
    let dk = discovery_key(&w.key.public(), &w.owner.device.public(), &reader.device.public());
    let refused = a
        .receive(&Wire::Sync { dk, message: SyncMessage::Update(rogue_update).encode_v1() }.encode())
        .unwrap_or_default();
    assert!(matches!(refused.as_slice(), [Action::Refused { .. }]));
    assert_eq!(titles(&sa), ["read me"]);

    // Removed: the member's devices get nothing new.
    let removed = w.admit(&reader, Role::Removed, 30);
    let owner_view: Vec<&Credential> = w.founding.iter().chain(&w.owner.creds).chain([&admit, &removed]).collect();
    let mut a = Peer::new(w.owner.device.public(), reader.device.public(), 1, vec![(sa, w.state(&owner_view))]);
    let sb2 = replica(w.key.public());
    let mut b =
        Peer::new(reader.device.public(), w.owner.device.public(), 2, vec![(sb2.clone(), w.state(&reader_view))]);
    let run = pump(&mut a, &mut b);
    assert!(run.acts_a.iter().any(|x| matches!(x, Action::Denied { .. })));
    assert!(!has_sync(&run.sent_a));
    assert!(sb2.tasks().is_empty());
}

#[test]
fn hostile_messages_are_errors_and_change_nothing() {
    let w = World::new();
    let guest = Person::new();
    let admit = w.admit(&guest, Role::Editor, 10);
    let (sa, sb) = (replica(w.key.public()), replica(w.key.public()));
    sa.add_task("keep").unwrap_or_else(|e| panic!("{e}"));
    let owner_view: Vec<&Credential> = w.founding.iter().chain(&w.owner.creds).chain([&admit]).collect();
    let guest_view: Vec<&Credential> = w.founding.iter().chain(&guest.creds).chain([&admit]).collect();
    let mut a = Peer::new(w.owner.device.public(), guest.device.public(), 1, vec![(sa.clone(), w.state(&owner_view))]);
    let mut b = Peer::new(guest.device.public(), w.owner.device.public(), 2, vec![(sb, w.state(&guest_view))]);
    pump(&mut a, &mut b);
    let before = sa.export().unwrap_or_default();
    assert!(a.receive(b"\xff\xff\xff").is_err());
    let dk = discovery_key(&w.key.public(), &w.owner.device.public(), &guest.device.public());
    let garbage = Wire::Sync { dk, message: SyncMessage::Update(vec![1, 2, 3, 4, 5]).encode_v1() }.encode();
    assert!(a.receive(&garbage).is_err());
    let not_sync = Wire::Sync { dk, message: vec![9, 9] }.encode();
    assert!(a.receive(&not_sync).is_err());
    assert_eq!(sa.export().unwrap_or_default(), before);
    assert_eq!(sa.query(&Query::all()).len(), 1);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let w = World::new();
        let owner_view: Vec<&Credential> = w.founding.iter().chain(&w.owner.creds).collect();
        let space = replica(w.key.public());
        let mut a = Peer::new(w.owner.device.public(), KeyPair::generate().public(), 1, vec![(space, w.state(&owner_view))]);
        a.start();
        let _ = a.receive(&bytes);
    }
}

#[test]
fn a_space_taken_up_mid_session_is_announced_proved_and_synced() {
    let w = World::new();
    let guest = Person::new();
    let admit = w.admit(&guest, Role::Editor, 10);
    let sa = replica(w.key.public());
    sa.add_task("milk").unwrap_or_else(|e| panic!("{e}"));
    let owner_view: Vec<&Credential> = w.founding.iter().chain(&w.owner.creds).chain([&admit]).collect();
    let guest_view: Vec<&Credential> = w.founding.iter().chain(&guest.creds).chain([&admit]).collect();
    let mut a = Peer::new(w.owner.device.public(), guest.device.public(), 1, vec![(sa, w.state(&owner_view))]);
    let mut b = Peer::new(guest.device.public(), w.owner.device.public(), 2, Vec::new());
    let run = pump(&mut a, &mut b);
    assert!(!has_sync(&run.sent_a), "nothing before the guest holds the space");
    // The guest is admitted later (an invitation): it takes the space up in the same session.
    let sb = replica(w.key.public());
    let first = b.add_space(sb.clone(), w.state(&guest_view));
    let run = exchange(&mut a, &mut b, Vec::new(), first);
    assert!(run.acts_a.iter().any(|x| matches!(x, Action::Verified { role: Role::Editor, .. })));
    assert!(run.acts_b.iter().any(|x| matches!(x, Action::Synced { .. })));
    assert_eq!(titles(&sb), ["milk"]);
}

#[test]
fn a_member_removed_mid_session_gets_nothing_more() {
    let w = World::new();
    let guest = Person::new();
    let admit = w.admit(&guest, Role::Editor, 10);
    let (sa, sb) = (replica(w.key.public()), replica(w.key.public()));
    let owner_view: Vec<&Credential> = w.founding.iter().chain(&w.owner.creds).chain([&admit]).collect();
    let guest_view: Vec<&Credential> = w.founding.iter().chain(&guest.creds).chain([&admit]).collect();
    let mut a = Peer::new(w.owner.device.public(), guest.device.public(), 1, vec![(sa.clone(), w.state(&owner_view))]);
    let mut b = Peer::new(guest.device.public(), w.owner.device.public(), 2, vec![(sb.clone(), w.state(&guest_view))]);
    pump(&mut a, &mut b);
    let sv = sa.state_vector().unwrap_or_default();
    sa.add_task("before").unwrap_or_else(|e| panic!("{e}"));
    let update = sa.diff(&sv).unwrap_or_default();
    let first = a.local_update(&w.key.public(), &update, None);
    exchange(&mut a, &mut b, first, Vec::new());
    assert_eq!(titles(&sb), ["before"]);
    // Removed: the session denies the guest at once and forwards nothing more.
    let removed = w.admit(&guest, Role::Removed, 20);
    let owner_view: Vec<&Credential> = owner_view.into_iter().chain([&removed]).collect();
    let acts = a.update_members(w.state(&owner_view));
    assert!(matches!(acts.as_slice(), [Action::Denied { .. }]), "{acts:?}");
    assert!(a.local_update(&w.key.public(), b"anything", None).is_empty());
}

#[test]
fn devices_of_one_identity_swap_their_spaces() {
    let w = World::new();
    // The owner's second device: authorized by the same root.
    let device2 = KeyPair::generate();
    let auth2 = Credential::issue(
        Claim::AuthorizedDevice { identity: w.owner.key(), device: *device2.public().as_bytes() },
        &w.owner.root,
        None,
        5,
    );
    let mut identity = dxos_halo::IdentityState::new(w.owner.root.public());
    for c in w.owner.creds.iter().chain([&auth2]) {
        let _ = identity.apply(c.clone());
    }
    let sa = replica(w.key.public());
    let owner_view: Vec<&Credential> = w.founding.iter().chain(&w.owner.creds).collect();
    let mut a = Peer::new(w.owner.device.public(), device2.public(), 1, vec![(sa, w.state(&owner_view))])
        .with_identity(identity.clone());
    // The new device knows only its own chain (genesis and its authorization).
    let mut only_mine = dxos_halo::IdentityState::new(w.owner.root.public());
    for c in [&w.owner.creds[0], &auth2] {
        let _ = only_mine.apply(c.clone());
    }
    let mut b = Peer::new(device2.public(), w.owner.device.public(), 2, Vec::new()).with_identity(only_mine);
    let run = pump(&mut a, &mut b);
    assert!(run.acts_a.contains(&Action::SameIdentity(true)));
    assert!(run.acts_b.contains(&Action::SameIdentity(true)));
    let got: Vec<&Credential> =
        run.acts_b.iter().filter_map(|x| if let Action::StoreAll(c) = x { Some(c) } else { None }).flatten().collect();
    assert!(got.iter().any(|c| matches!(c.claim(), Claim::SpaceGenesis { .. })), "the space's credentials arrived");
    // A stranger's device is not taken for one of ours.
    let stranger = Person::new();
    let mut a = Peer::new(w.owner.device.public(), stranger.device.public(), 1, Vec::new()).with_identity(identity);
    let mut c = Peer::new(stranger.device.public(), w.owner.device.public(), 2, Vec::new());
    let run = pump(&mut a, &mut c);
    assert!(run.acts_a.is_empty() && run.acts_b.is_empty());
    assert!(!run.sent_a.iter().any(|w| matches!(w, Wire::Spaces { .. } | Wire::ProveIdentity { .. })));
}

#[test]
fn a_state_vector_declaring_more_entries_than_its_bytes_is_refused_unread() {
    use yrs::updates::encoder::Encode;
    // Sync step 1 whose state vector says 0x7fffffff entries in 6 bytes (yrs would reserve
    // room for all of them first; found by fuzzing, fuzz/corpus/replication_frame).
    let message = [0u8, 6, 0xff, 0xff, 0xff, 0xff, 0x07, 0];
    let e = dxos_net::replicate::proto::decode_sync(&message).err().unwrap_or_default();
    assert!(e.contains("declaring 2147483647 entries in 6 bytes"), "{e}");
    // A real one still reads.
    let sv = yrs::sync::protocol::SyncMessage::SyncStep1(yrs::StateVector::default()).encode_v1();
    assert!(dxos_net::replicate::proto::decode_sync(&sv).is_ok());
}
