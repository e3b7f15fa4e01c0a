//! Hand-checked validation and effect of every operation, and a property test that sequences of valid and invalid operations conserve resources and never lose a volume except by DESTROY.

use proptest::prelude::*;

use super::*;

fn r(text: &str) -> Resources {
    Resources::parse(text).unwrap()
}

fn reserve(text: &str) -> Operation {
    Operation::Reserve {
        source: Resources::new(),
        resources: r(text),
    }
}

fn update(source: &str, target: &str) -> Operation {
    Operation::Reserve {
        source: r(source),
        resources: r(target),
    }
}

fn unreserve(text: &str) -> Operation {
    Operation::Unreserve { resources: r(text) }
}

fn create(text: &str) -> Operation {
    Operation::Create { volumes: r(text) }
}

fn destroy(text: &str) -> Operation {
    Operation::Destroy { volumes: r(text) }
}

/// Validates and applies to `pool`; the reason key on rejection.
fn run(op: &Operation, ctx: &OperationContext<'_>, pool: &str) -> Result<String, &'static str> {
    let c = validate(op, ctx).map_err(|e| e.reason())?;
    apply(&r(pool), &c)
        .map(|p| p.to_string())
        .map_err(|e| e.reason())
}

/// The canonical text of `text` (entries in the order `Resources` keeps them).
fn norm(text: &str) -> String {
    r(text).to_string()
}

fn db_roles() -> Vec<String> {
    vec!["db".to_string()]
}

#[test]
fn reserve_pushes_one_dynamic_reservation_for_the_offer_role() {
    let roles = db_roles();
    let ctx = OperationContext::framework(&roles, "db", Some("db"), false);
    assert_eq!(
        run(
            &reserve("cpus(dyn:db@db):2;disk(dyn:db@db):100"),
            &ctx,
            "cpus:4;mem:1024;disk:100"
        ),
        Ok(norm(
            "cpus:2;cpus(dyn:db@db):2;disk(dyn:db@db):100;mem:1024"
        ))
    );
    // Labelled reservations are separate entries.
    assert_eq!(
        run(
            &reserve("cpus(dyn:db@db{tier=hot}):1"),
            &ctx,
            "cpus:1;cpus(dyn:db@db):1"
        ),
        Ok(norm("cpus(dyn:db@db):1;cpus(dyn:db@db{tier=hot}):1"))
    );
}

#[test]
fn reserve_rejections_name_the_mesos_reason() {
    let roles = db_roles();
    let ctx = OperationContext::framework(&roles, "db", Some("db"), false);
    let pool = "cpus:4;mem:1024";
    assert_eq!(
        run(&reserve("cpus(db):1"), &ctx, pool),
        Err("not_dynamically_reserved")
    );
    assert_eq!(
        run(&reserve("cpus(dyn:db@eve):1"), &ctx, pool),
        Err("principal_mismatch")
    );
    assert_eq!(
        run(&reserve("cpus(dyn:db):1"), &ctx, pool),
        Err("principal_mismatch")
    );
    assert_eq!(
        run(&reserve("cpus(dyn:web@db):1"), &ctx, pool),
        Err("role_not_allocated")
    );
    // Offered to `web` (say, through a stale subscription) but not a role of ours.
    let other = OperationContext::framework(&roles, "web", Some("db"), false);
    assert_eq!(
        run(&reserve("cpus(dyn:web@db):1"), &other, pool),
        Err("role_not_subscribed")
    );
    // Over-subscription: more than the offer holds; nothing is applied.
    assert_eq!(
        run(&reserve("cpus(dyn:db@db):5"), &ctx, pool),
        Err("not_available")
    );
    assert_eq!(
        run(
            &Operation::Reserve {
                source: Resources::new(),
                resources: Resources::new()
            },
            &ctx,
            pool
        ),
        Err("empty")
    );
    // The operator has no allocation role and may reserve for anyone.
    let op = OperationContext::operator(Some("ops"));
    assert_eq!(
        run(&reserve("cpus(dyn:web@ops):1"), &op, pool),
        Ok(norm("cpus:3;cpus(dyn:web@ops):1;mem:1024"))
    );
}

#[test]
fn refinement_pushes_a_descendant_role_on_an_ancestor_reservation() {
    let roles = vec!["eng/be".to_string()];
    let mut ctx = OperationContext::framework(&roles, "eng/be", None, false);
    assert_eq!(
        run(&reserve("cpus(eng,dyn:eng/be):2"), &ctx, "cpus(eng):4"),
        Ok(norm("cpus(eng):2;cpus(eng,dyn:eng/be):2"))
    );
    // Not a strict descendant.
    let ops = vec!["ops".to_string()];
    let bad = OperationContext::framework(&ops, "ops", None, false);
    assert_eq!(
        run(&reserve("cpus(eng,dyn:ops):2"), &bad, "cpus(eng):4"),
        Err("invalid_reservation")
    );
    ctx.agent.reservation_refinement = false;
    assert_eq!(
        run(&reserve("cpus(eng,dyn:eng/be):2"), &ctx, "cpus(eng):4"),
        Err("refinement_unsupported")
    );
    let mut flat = OperationContext::framework(&roles, "eng/be", None, false);
    flat.agent.hierarchical_role = false;
    assert_eq!(
        run(&reserve("cpus(dyn:eng/be):1"), &flat, "cpus:4"),
        Err("hierarchical_role_unsupported")
    );
    // Unreserving the refinement returns the resources to `eng`.
    assert_eq!(
        run(
            &unreserve("cpus(eng,dyn:eng/be):2"),
            &ctx,
            "cpus(eng):2;cpus(eng,dyn:eng/be):2"
        ),
        Ok(norm("cpus(eng):4"))
    );
}

#[test]
fn unreserve_pops_dynamic_reservations_only_and_never_a_volume() {
    let ctx = OperationContext::operator(None);
    assert_eq!(
        run(
            &unreserve("cpus(dyn:db@db):1"),
            &ctx,
            "cpus(dyn:db@db):2;cpus:1"
        ),
        Ok(norm("cpus:2;cpus(dyn:db@db):1"))
    );
    assert_eq!(
        run(&unreserve("cpus(db):1"), &ctx, "cpus(db):2"),
        Err("not_dynamically_reserved")
    );
    assert_eq!(
        run(
            &unreserve("disk(dyn:db@db)[id=v1,path=data]:10"),
            &ctx,
            "disk(dyn:db@db)[id=v1,path=data]:10"
        ),
        Err("volume_unreserve")
    );
    // Unreserving more than there is (e.g. held by a task): nothing happens.
    assert_eq!(
        run(&unreserve("cpus(dyn:db@db):3"), &ctx, "cpus(dyn:db@db):2"),
        Err("not_available")
    );
}

#[test]
fn create_turns_reserved_disk_into_a_volume() {
    let roles = db_roles();
    let ctx = OperationContext::framework(&roles, "db", Some("db"), false);
    assert_eq!(
        run(
            &create("disk(dyn:db@db)[id=v1,principal=db,path=data,mode=RW]:60"),
            &ctx,
            "disk(dyn:db@db):100"
        ),
        Ok(norm(
            "disk(dyn:db@db):40;disk(dyn:db@db)[id=v1,principal=db,path=data,mode=RW]:60"
        ))
    );
    // A volume on static reservations works too.
    let anyone = OperationContext::framework(&roles, "db", None, false);
    assert_eq!(
        run(
            &create("disk(db)[id=v1,path=data]:100"),
            &anyone,
            "disk(db):100"
        ),
        Ok(norm("disk(db)[id=v1,path=data]:100"))
    );
    assert_eq!(
        run(&create("disk[id=v1,path=data]:10"), &anyone, "disk:100"),
        Err("unreserved_volume")
    );
    assert_eq!(
        run(&create("disk(db)[id=v1]:10"), &anyone, "disk(db):100"),
        Err("not_persistent_volume")
    );
    assert_eq!(
        run(&create("disk(db):10"), &anyone, "disk(db):100"),
        Err("not_persistent_volume")
    );
    assert_eq!(
        run(
            &create("disk(dyn:db@db)[id=v1,path=data]:10"),
            &ctx,
            "disk(dyn:db@db):100"
        ),
        Err("principal_mismatch")
    );
    assert_eq!(
        run(
            &create("disk(db)[id=v1,path=data]:200"),
            &anyone,
            "disk(db):100"
        ),
        Err("not_available")
    );
}

#[test]
fn persistence_ids_are_unique_per_role_and_shared_volumes_need_the_capability() {
    let roles = vec!["db".to_string(), "web".to_string()];
    let existing = r("disk(db)[id=v1,path=data]:10");
    let mut ctx = OperationContext::framework(&roles, "db", None, false);
    ctx.checkpointed = &existing;
    assert_eq!(
        run(&create("disk(db)[id=v1,path=data]:5"), &ctx, "disk(db):5"),
        Err("duplicate_persistence_id")
    );
    assert_eq!(
        run(
            &create("disk(db)[id=v2,path=data]:2;disk(db)[id=v2,path=data]:3"),
            &ctx,
            "disk(db):5"
        ),
        Err("duplicate_persistence_id")
    );
    // The same id in another role is another volume.
    assert_eq!(
        run(&create("disk(web)[id=v1,path=data]:5"), &ctx, "disk(web):5"),
        Ok(norm("disk(web)[id=v1,path=data]:5"))
    );
    assert_eq!(
        run(
            &create("disk(db)[id=s1,path=data]<SHARED>:5"),
            &ctx,
            "disk(db):5"
        ),
        Err("shared_not_capable")
    );
    let capable = OperationContext::framework(&roles, "db", None, true);
    assert_eq!(
        run(
            &create("disk(db)[id=s1,path=data]<SHARED>:5"),
            &capable,
            "disk(db):5"
        ),
        Ok(norm("disk(db)[id=s1,path=data]<SHARED>:5"))
    );
}

#[test]
fn destroy_needs_an_existing_volume_no_task_uses() {
    let volume = "disk(dyn:db@db)[id=v1,path=data]:10";
    let total = r(&format!("{volume};cpus:1"));
    let none = Resources::new();
    let mut ctx = OperationContext::operator(None);
    ctx.checkpointed = &total;
    ctx.used = &none;
    assert_eq!(
        run(&destroy(volume), &ctx, &total.to_string()),
        Ok(norm("cpus:1;disk(dyn:db@db):10"))
    );
    assert_eq!(
        run(
            &destroy("disk(dyn:db@db)[id=v2,path=data]:10"),
            &ctx,
            volume
        ),
        Err("volume_not_found")
    );
    let used = r(volume);
    ctx.used = &used;
    assert_eq!(run(&destroy(volume), &ctx, volume), Err("volume_in_use"));
    assert_eq!(
        run(&destroy("disk(dyn:db@db):10"), &ctx, volume),
        Err("not_persistent_volume")
    );
    // A shared volume in use by one task cannot be destroyed either.
    let shared = "disk(db)[id=s1,path=data]<SHARED>:5";
    let total = r(shared);
    let used = r(shared);
    let mut ctx = OperationContext::operator(None);
    ctx.checkpointed = &total;
    ctx.used = &used;
    assert_eq!(run(&destroy(shared), &ctx, shared), Err("volume_in_use"));
}

#[test]
fn reservation_update_moves_a_volume_to_another_role_in_one_step() {
    let ctx = OperationContext::operator(Some("ops"));
    let source = "cpus(dyn:a@ops):1;disk(dyn:a@ops)[id=v1,path=data]:100";
    let target = "cpus(dyn:b@ops):1;disk(dyn:b@ops)[id=v1,path=data]:100";
    let op = update(source, target);
    assert_eq!(op.kind(), OperationKind::Update);
    assert_eq!(
        run(&op, &ctx, &format!("{source};mem:10")),
        Ok(norm(
            "cpus(dyn:b@ops):1;disk(dyn:b@ops)[id=v1,path=data]:100;mem:10"
        ))
    );
    assert_eq!(
        run(
            &update(
                "cpus(dyn:a@ops):1;disk(dyn:c@ops):1",
                "cpus(dyn:b@ops):1;disk(dyn:b@ops):1"
            ),
            &ctx,
            source
        ),
        Err("mixed_reservations")
    );
    assert_eq!(
        run(
            &update("cpus(dyn:a@ops):1", "cpus(dyn:b@ops):2"),
            &ctx,
            source
        ),
        Err("source_mismatch")
    );
    assert_eq!(
        run(&update("cpus(dyn:a@ops):1", "cpus(b):1"), &ctx, source),
        Err("not_dynamically_reserved")
    );
    // The source is held by a task (not in the available pool): 409 Conflict.
    assert_eq!(run(&op, &ctx, "mem:10"), Err("not_available"));
}

#[test]
fn the_allocator_applies_offer_operations_to_the_allocation_and_the_total() {
    use crate::allocator::{
        by_name, AgentId, AgentInfo, AllocatorConfig, Candidates, FrameworkId, FrameworkInfo, Quota,
    };
    use crate::resources::ResourceQuantities;
    use sim_core::time::SimTime;
    for policy in ["hdrf", "random", "fifo", "bestfit"] {
        let t = SimTime::ZERO;
        let mut alloc = by_name(policy, AllocatorConfig::default(), 7).unwrap();
        let agent = AgentId(0);
        alloc.add_agent(
            t,
            agent,
            AgentInfo {
                total: r("cpus:4;mem:1024;disk:100"),
                ..AgentInfo::default()
            },
            &[],
        );
        let db = FrameworkId(0);
        let info = FrameworkInfo {
            name: "db".into(),
            roles: db_roles(),
            ..FrameworkInfo::default()
        };
        alloc.add_framework(t, db, info, true);
        alloc.update_quota(
            t,
            "db",
            Quota {
                guarantees: ResourceQuantities::new(),
                limits: ResourceQuantities::parse("cpus:100").unwrap().into(),
            },
        );
        let offers = alloc.allocate(t, &Candidates::All);
        assert_eq!(offers.len(), 1, "{policy}");
        let roles = db_roles();
        let ctx = OperationContext::framework(&roles, "db", Some("db"), false);
        let mut conversions =
            validate(&reserve("cpus(dyn:db@db):2;disk(dyn:db@db):100"), &ctx).unwrap();
        conversions.extend(
            validate(
                &create("disk(dyn:db@db)[id=v1,principal=db,path=data]:100"),
                &ctx,
            )
            .unwrap(),
        );
        // Consuming what the framework does not hold changes nothing.
        let too_much = validate(&reserve("cpus(dyn:db@db):8"), &ctx).unwrap();
        assert!(alloc
            .update_allocation(t, db, "db", agent, &too_much)
            .is_err());
        alloc
            .update_allocation(t, db, "db", agent, &conversions)
            .unwrap();
        let after = r(
            "cpus:2;cpus(dyn:db@db):2;mem:1024;disk(dyn:db@db)[id=v1,principal=db,path=data]:100",
        );
        assert_eq!(alloc.available(agent), Some(Resources::new()), "{policy}");
        assert_eq!(alloc.metrics().offered_or_allocated, after.quantities());
        // Everything comes back as converted; reservations count toward quota consumption
        // whether allocated or not.
        alloc.recover_role_resources(t, db, "db", agent, &after, None);
        assert_eq!(alloc.available(agent), Some(after.clone()), "{policy}");
        assert_eq!(
            alloc.metrics().quota["db"].consumed,
            ResourceQuantities::parse("cpus:2;disk:100").unwrap(),
            "{policy}"
        );
        // The operator moves the reservation (with the volume) to `web`.
        let op = OperationContext::operator(None);
        let moved = validate(
            &update(
                "cpus(dyn:db@db):2;disk(dyn:db@db)[id=v1,principal=db,path=data]:100",
                "cpus(dyn:web@db):2;disk(dyn:web@db)[id=v1,principal=db,path=data]:100",
            ),
            &op,
        )
        .unwrap();
        alloc.update_available(t, agent, &moved).unwrap();
        assert_eq!(
            alloc.metrics().quota["db"].consumed,
            ResourceQuantities::new(),
            "{policy}"
        );
        assert!(alloc
            .available(agent)
            .unwrap()
            .contains(&r("disk(dyn:web@db)[id=v1,principal=db,path=data]:100")));
        // Offered or allocated resources are not available to the operator: `db` now
        // holds the unreserved part.
        let offers = alloc.allocate(t, &Candidates::All);
        assert_eq!(offers[0].resources, r("cpus:2;mem:1024"), "{policy}");
        let taken = validate(&reserve("cpus(dyn:web):1"), &op).unwrap();
        assert_eq!(
            alloc
                .update_available(t, agent, &taken)
                .map_err(|e| e.reason()),
            Err("not_available"),
            "{policy}"
        );
    }
}

fn one(text: &str) -> Resource {
    r(text).as_slice()[0].clone()
}

#[test]
fn grow_and_shrink_resize_a_volume_with_disk_of_its_kind() {
    let ctx = OperationContext::operator(None);
    let v = "disk(dyn:db@db)[id=v1,path=data]:100";
    let grow = Operation::GrowVolume {
        volume: one(v),
        addition: one("disk(dyn:db@db):50"),
    };
    assert_eq!(grow.kind(), OperationKind::Grow);
    assert_eq!(
        run(&grow, &ctx, &format!("{v};disk(dyn:db@db):60")),
        Ok(norm(
            "disk(dyn:db@db)[id=v1,path=data]:150;disk(dyn:db@db):10"
        ))
    );
    // Disk of another reservation is not the volume's kind.
    let other = Operation::GrowVolume {
        volume: one(v),
        addition: one("disk(dyn:web@db):50"),
    };
    assert_eq!(run(&other, &ctx, v), Err("invalid_resize"));
    let shrink = |by: i64| Operation::ShrinkVolume {
        volume: one(v),
        subtract: by,
    };
    assert_eq!(
        run(&shrink(30_000), &ctx, v),
        Ok(norm(
            "disk(dyn:db@db)[id=v1,path=data]:70;disk(dyn:db@db):30"
        ))
    );
    assert_eq!(run(&shrink(100_000), &ctx, v), Err("invalid_resize"));
    assert_eq!(run(&shrink(0), &ctx, v), Err("invalid_resize"));
    let shared = Operation::ShrinkVolume {
        volume: one("disk(db)[id=s1,path=data]<SHARED>:100"),
        subtract: 1000,
    };
    assert_eq!(
        run(&shared, &ctx, "disk(db)[id=s1,path=data]<SHARED>:100"),
        Err("invalid_resize")
    );
    let mount = Operation::ShrinkVolume {
        volume: one("disk(db)[MOUNT:/m,id=m1,path=data]:100"),
        subtract: 1000,
    };
    assert_eq!(
        run(&mount, &ctx, "disk(db)[MOUNT:/m,id=m1,path=data]:100"),
        Err("invalid_resize")
    );
    let plain = Operation::GrowVolume {
        volume: one("disk(db):10"),
        addition: one("disk(db):10"),
    };
    assert_eq!(
        run(&plain, &ctx, "disk(db):20"),
        Err("not_persistent_volume")
    );
}

// ------------------------------------------------------------------ property

/// The menu the property draws from: valid and invalid operations on a small agent.
fn menu() -> Vec<Operation> {
    vec![
        reserve("cpus(dyn:a@ops):1"),
        reserve("disk(dyn:a@ops):50"),
        reserve("mem(dyn:b@ops):256"),
        reserve("cpus(a):1"),
        reserve("cpus(dyn:a@ops):100"),
        unreserve("cpus(dyn:a@ops):1"),
        unreserve("disk(dyn:a@ops):50"),
        unreserve("mem(dyn:b@ops):256"),
        unreserve("disk(dyn:a@ops)[id=v1,path=d]:50"),
        create("disk(dyn:a@ops)[id=v1,path=d]:50"),
        create("disk(dyn:a@ops)[id=v2,path=d]:25"),
        create("disk[id=v3,path=d]:25"),
        destroy("disk(dyn:a@ops)[id=v1,path=d]:50"),
        destroy("disk(dyn:a@ops)[id=v2,path=d]:25"),
        destroy("disk(dyn:b@ops)[id=v1,path=d]:50"),
        update(
            "disk(dyn:a@ops)[id=v1,path=d]:50",
            "disk(dyn:b@ops)[id=v1,path=d]:50",
        ),
        update(
            "disk(dyn:b@ops)[id=v1,path=d]:50",
            "disk(dyn:a@ops)[id=v1,path=d]:50",
        ),
        update("cpus(dyn:a@ops):1", "cpus(dyn:b@ops):1"),
        Operation::GrowVolume {
            volume: one("disk(dyn:a@ops)[id=v2,path=d]:25"),
            addition: one("disk(dyn:a@ops):25"),
        },
        Operation::ShrinkVolume {
            volume: one("disk(dyn:a@ops)[id=v2,path=d]:50"),
            subtract: 25_000,
        },
    ]
}

fn volume_ids(r: &Resources) -> BTreeSet<String> {
    persistent_volumes(r)
        .iter()
        .filter_map(|v| v.disk.as_deref().and_then(|d| d.persistence_id.clone()))
        .collect()
}

/// A step: an operation from the menu, or a task taking/releasing volume `v1`.
#[derive(Clone, Debug)]
enum Step {
    Op(usize),
    UseV1,
    FreeAll,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0..menu().len()).prop_map(Step::Op),
        1 => Just(Step::UseV1),
        1 => Just(Step::FreeAll),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn operations_conserve_resources_and_keep_volumes(steps in prop::collection::vec(step(), 1..40)) {
        use crate::allocator::{by_name, AgentId, AgentInfo, AllocatorConfig};
        use sim_core::time::SimTime;
        let menu = menu();
        let mut total = r("cpus:4;mem:1024;disk:200");
        let mut used = Resources::new();
        let quantities = total.quantities();
        // The allocator's books follow the operator calls (no task holds anything).
        let mut alloc = by_name("hdrf", AllocatorConfig::default(), 1).unwrap();
        let agent = AgentId(0);
        alloc.add_agent(SimTime::ZERO, agent, AgentInfo { total: total.clone(), ..AgentInfo::default() }, &[]);
        let mut alloc_total = total.clone();
        for s in steps {
            match s {
                Step::UseV1 => {
                    let v = persistent_volumes(&total.minus(&used))
                        .filter(|v| v.disk.as_deref().and_then(|d| d.persistence_id.as_deref()) == Some("v1"));
                    used.add_assign(&v);
                }
                Step::FreeAll => used = Resources::new(),
                Step::Op(i) => {
                    let op = &menu[i];
                    let before = volume_ids(&total);
                    let checkpointed = total.clone();
                    let mut ctx = OperationContext::operator(Some("ops"));
                    ctx.checkpointed = &checkpointed;
                    ctx.used = &used;
                    let available = total.minus(&used);
                    let result = validate(op, &ctx).and_then(|c| apply(&available, &c).map(|_| c));
                    if let Ok(c) = &result {
                        total = apply(&total, c).expect("the total holds what the available part holds");
                    }
                    // Conservation: quantities never change.
                    prop_assert_eq!(total.quantities(), quantities.clone());
                    // Volumes vanish only by DESTROY.
                    let after = volume_ids(&total);
                    for id in before.difference(&after) {
                        prop_assert!(matches!(op, Operation::Destroy { .. }) && result.is_ok(),
                            "volume {} lost by {:?}", id, op);
                    }
                    // Tasks keep what they hold.
                    prop_assert!(total.contains(&used));
                    // The allocator, given only validated conversions, agrees.
                    if used.is_empty() {
                        if let Ok(c) = validate(op, &ctx) {
                            let applied = alloc.update_available(SimTime::ZERO, agent, &c);
                            prop_assert_eq!(applied.is_ok(), result.is_ok());
                            if let Ok(()) = applied {
                                alloc_total = apply(&alloc_total, &c).unwrap();
                            }
                        }
                        prop_assert_eq!(alloc.available(agent).unwrap(), alloc_total.clone());
                        prop_assert_eq!(alloc.metrics().total, quantities.clone());
                    } else {
                        // Re-synchronise the allocator once tasks let go.
                        alloc.update_agent(SimTime::ZERO, agent, total.clone(), Vec::new());
                        alloc_total = total.clone();
                    }
                }
            }
        }
    }
}
