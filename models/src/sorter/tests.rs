//! Data-driven sorter tests: acceptance cases 1, 2, 3 and 5 of allocator-cases.md, plus random-sorter properties.

use super::drf::DrfSorter;
use super::random::RandomSorter;
use super::{PassWalker, Sorter};
use crate::allocator::AgentId;
use crate::resources::{ResourceQuantities, Resources};

/// Plays a sorter script. Commands, one per line (`#` starts a comment):
///
/// * `total R` replaces the cluster total;
/// * `add P` adds and activates client `P`; `remove P`; `activate P`; `deactivate P`;
/// * `alloc P R` / `unalloc P R` (resources in the text notation, on agent 0);
/// * `weight P W`;
/// * `expect P...` asserts `sort()` (no paths = empty);
/// * `contains P true|false`, `count N`.
fn play(sorter: &mut dyn Sorter, script: &str) {
    let mut total = ResourceQuantities::new();
    for (lineno, raw) in script.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = format!("script line {}: `{line}`", lineno + 1);
        let client =
            |s: &dyn Sorter, p: &str| s.client(p).unwrap_or_else(|| panic!("{at}: no client {p}"));
        let res = |s: &str| Resources::parse(s).unwrap_or_else(|e| panic!("{at}: {e}"));
        match words[0] {
            "total" => {
                sorter.remove_total(&total);
                total = res(words[1]).quantities();
                sorter.add_total(&total);
            }
            "add" => {
                let c = sorter.add(words[1]);
                sorter.activate(c);
            }
            "remove" => {
                let c = client(sorter, words[1]);
                sorter.remove(c);
            }
            "activate" => {
                let c = client(sorter, words[1]);
                sorter.activate(c);
            }
            "deactivate" => {
                let c = client(sorter, words[1]);
                sorter.deactivate(c);
            }
            "alloc" => {
                let c = client(sorter, words[1]);
                sorter.allocated(c, AgentId(0), &res(words[2]));
            }
            "unalloc" => {
                let c = client(sorter, words[1]);
                sorter.unallocated(c, AgentId(0), &res(words[2]));
            }
            "weight" => sorter.update_weight(words[1], words[2].parse().unwrap()),
            "expect" => {
                let got = sorter.sort_paths();
                let want: Vec<String> = words[1..].iter().map(|s| s.to_string()).collect();
                assert_eq!(got, want, "{at}");
            }
            "contains" => {
                let want: bool = words[2].parse().unwrap();
                assert_eq!(sorter.client(words[1]).is_some(), want, "{at}");
            }
            "count" => assert_eq!(sorter.count(), words[1].parse::<usize>().unwrap(), "{at}"),
            other => panic!("{at}: unknown command {other}"),
        }
    }
}

fn drf(script: &str) {
    play(&mut DrfSorter::new(Vec::new()), script);
}

#[test]
fn case2_drf_basic_sequence() {
    drf("
        total cpus:100;mem:100
        expect
        add a
        alloc a cpus:5;mem:5
        add b
        alloc b cpus:6;mem:6
        expect a b
        add c
        alloc c cpus:1;mem:1
        add d
        alloc d cpus:3;mem:1
        expect c d a b
        remove a
        unalloc b cpus:4;mem:4
        expect c b d
        add e
        alloc e cpus:1;mem:5
        total cpus:50;mem:100
        expect c b e d
        total cpus:50;mem:200
        add f
        alloc f cpus:5;mem:1
        alloc c mem:15
        expect e b d c f
        contains b true
        contains a false
        count 5
        deactivate d
        expect e b c f
        count 5
        activate d
        expect e b d c f
    ");
}

#[test]
fn case3a_weighted_drf() {
    drf("
        total cpus:100;mem:100
        add a
        alloc a cpus:5;mem:5
        weight b 2
        add b
        alloc b cpus:6;mem:6
        expect b a
        add c
        alloc c cpus:4;mem:4
        expect b c a
        weight d 10
        add d
        alloc d cpus:10;mem:20
        expect d b c a
        remove b
        expect d c a
        alloc d cpus:10;mem:25
        expect c d a
        weight e 0.1
        add e
        alloc e cpus:1;mem:1
        expect c d a e
        remove a
        expect c d e
    ");
}

#[test]
fn case3b_update_weight() {
    drf("
        total cpus:100;mem:100
        add a
        alloc a cpus:5;mem:5
        add b
        alloc b cpus:6;mem:6
        expect a b
        weight b 2
        expect b a
    ");
}

#[test]
fn case5a_hierarchical_iteration_order() {
    drf("
        total cpus:100;mem:100
        add a/b
        add c
        add d
        add d/e
        expect a/b c d d/e
        alloc c cpus:8;mem:8
        expect a/b d d/e c
        alloc d cpus:3;mem:3
        alloc d/e cpus:2;mem:2
        expect a/b d/e d c
        alloc a/b cpus:6;mem:6
        expect d/e d a/b c
    ");
}

#[test]
fn case5b_add_child_to_leaf() {
    drf("
        total cpus:100;mem:100
        add a
        alloc a cpus:10;mem:10
        add b
        alloc b cpus:6;mem:6
        expect b a
        add a/c
        alloc a/c cpus:5;mem:5
        expect b a/c a
        remove a
        expect a/c b
        add a
        alloc a cpus:10;mem:10
        expect b a/c a
        weight a/c 0.2
        expect b a a/c
        weight a 3
        expect a a/c b
        weight a/c 1
        expect a/c a b
    ");
}

#[test]
fn case5c_hierarchical_allocation() {
    drf("
        total cpus:100;mem:100
        add a
        add b/c
        add b/d
        expect a b/c b/d
        alloc a cpus:6;mem:6
        expect b/c b/d a
        alloc b/c cpus:4;mem:4
        alloc b/d cpus:3;mem:3
        expect a b/d b/c
        alloc a cpus:2;mem:2
        expect b/d b/c a
        add b/e/f
        expect b/e/f b/d b/c a
        alloc b/e/f cpus:3.5;mem:3.5
        expect a b/d b/e/f b/c
        remove b/e/f
        expect b/d b/c a
        unalloc b/c cpus:3;mem:3
        expect b/c b/d a
        add b/e/f
        alloc b/e/f cpus:3.5;mem:3.5
        expect b/c b/d b/e/f a
    ");
}

#[test]
fn revocable_and_reserved_count_under_the_plain_name() {
    drf("
        total cpus:10;mem:10
        add a
        add b
        alloc a cpus{REV}:5
        alloc b cpus(r):2;cpus:2
        expect b a
    ");
}

/// An only child's key is not refreshed when it is activated or allocated to; it must
/// be when a sibling arrives, or the newcomer would be compared with a stale key (at
/// the root and under an internal node).
#[test]
fn an_only_child_is_reordered_when_a_sibling_arrives() {
    drf("
        total cpus:100;mem:100
        add a
        alloc a cpus:10;mem:10
        add b
        alloc b cpus:20;mem:20
        expect a b
        add x/y
        alloc x/y cpus:5;mem:5
        add x/z
        alloc x/z cpus:50;mem:50
        expect a b x/y x/z
        unalloc x/z cpus:50;mem:50
        expect x/z x/y a b
    ");
}

#[test]
fn excluded_names_do_not_count() {
    let mut s = DrfSorter::new(vec![crate::resources::ResourceName::Gpus]);
    play(
        &mut s,
        "
        total cpus:10;gpus:4
        add a
        add b
        alloc a gpus:4;cpus:1
        alloc b cpus:2
        expect a b
    ",
    );
}

/// Case 1: the DRF paper's progressive filling through the sorter, with Mesos
/// tie-breaking (share, then allocation count, then name).
#[test]
fn case1_drf_paper_progressive_filling() {
    let mut s = DrfSorter::new(Vec::new());
    s.add_total(&ResourceQuantities::parse("cpus:9;mem:18").unwrap());
    let a = s.add("A");
    let b = s.add("B");
    s.activate(a);
    s.activate(b);
    let task_a = Resources::parse("cpus:1;mem:4").unwrap();
    let task_b = Resources::parse("cpus:3;mem:1").unwrap();
    let mut free = Resources::parse("cpus:9;mem:18").unwrap();
    let mut picks = String::new();
    loop {
        let head = s.sort()[0];
        let task = if head == a { &task_a } else { &task_b };
        if !free.contains(task) {
            break;
        }
        free.sub_assign(task);
        s.allocated(head, AgentId(0), task);
        picks.push_str(s.path(head));
    }
    assert_eq!(picks, "ABABA");
    assert_eq!(s.allocation(a).to_string(), "cpus:3;mem:12");
    assert_eq!(s.allocation(b).to_string(), "cpus:6;mem:2");
    assert!((s.share(a) - 2.0 / 3.0).abs() < 1e-12);
    assert!((s.share(b) - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(free.to_string(), "mem:4");
}

/// A pass walked with allocations in between yields the snapshot order.
#[test]
fn pass_walker_matches_snapshot_under_allocation() {
    let mut s = DrfSorter::new(Vec::new());
    s.add_total(&ResourceQuantities::parse("cpus:100").unwrap());
    for p in ["a", "b", "c", "d"] {
        let c = s.add(p);
        s.activate(c);
    }
    let snapshot = s.sort_paths();
    s.begin_pass();
    let mut visited = Vec::new();
    let mut walker = PassWalker::new(1);
    let mut seen = Vec::new();
    while let Some(c) = walker.next(&mut s, &mut visited) {
        seen.push(s.path(c).to_string());
        s.allocated(c, AgentId(0), &Resources::parse("cpus:10").unwrap());
    }
    assert_eq!(seen, snapshot);
}

#[test]
fn random_sorter_is_seeded_weighted_and_hierarchical() {
    let run = |seed: u8| {
        let mut s = RandomSorter::new([seed; 32]);
        for p in ["a", "b", "c/x", "c/y", "c"] {
            let c = s.add(p);
            s.activate(c);
        }
        (0..50)
            .map(|_| s.sort_paths().join(","))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
    // The subtree `c` (c, c/x, c/y) is always contiguous.
    for order in run(3) {
        let v: Vec<&str> = order.split(',').collect();
        let pos: Vec<usize> = v
            .iter()
            .enumerate()
            .filter(|(_, p)| p.starts_with('c'))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(pos.len(), 3);
        assert_eq!(pos[2] - pos[0], 2, "{order}");
    }
    // Weight 9 against 1: the heavy client comes first about 90% of the time.
    let mut s = RandomSorter::new([7; 32]);
    let h = s.add("heavy");
    let l = s.add("light");
    s.activate(h);
    s.activate(l);
    s.update_weight("heavy", 9.0);
    let first = (0..2000).filter(|_| s.sort()[0] == h).count();
    assert!((1700..1900).contains(&first), "{first}");
    // Inactive clients never appear.
    s.deactivate(l);
    assert_eq!(s.sort_paths(), vec!["heavy".to_string()]);
}
