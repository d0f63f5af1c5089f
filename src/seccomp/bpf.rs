//! Classic BPF generation for a seccomp filter.
//!
//! # Program shape
//!
//! ```text
//!       ld   [4]                         ; seccomp_data.arch
//!       jeq  #AUDIT_ARCH, ok, FOREIGN     ; i386 int 0x80, aarch32, ...
//! ok:   ld   [0]                         ; seccomp_data.nr
//!       jset #0x40000000, X32, tree      ; x86_64 only: the x32 ABI bit
//! tree: jge/jgt/jeq #nr ...              ; decision tree over the numbers
//!                                        ; that have rules; every leaf is a
//!                                        ; jump to a shared return or to the
//!                                        ; argument block of one syscall
//! blk:  ld   [16 + 8 * i]                ; low word of args[i] (little endian)
//!       and  #mask                       ; only for masked checks
//!       jeq/jset #k, ..., ...            ; first matching rule wins
//! ret:  ret  #ALLOW                      ; one shared return per action
//!       ret  #ERRNO(EPERM)
//!       ret  #ERRNO(ENOSYS)
//!       ret  #KILL_PROCESS
//! ```
//!
//! `FOREIGN` is `KILL_PROCESS`, `X32` is `ERRNO(EPERM)`; both become `LOG` in
//! log-only mode. Syscalls without rules end in `ret #ALLOW` without ever
//! loading an argument, which makes them constant-allow for the kernel's
//! action cache: after install they never run the filter at all.
//!
//! The decision tree works on maximal runs of consecutive numbers with the
//! same unconditional action ("segments"), with allowed gaps between them. A
//! small dynamic program picks, for every run of segments, either a linear
//! chain of tests or a `jge` split, minimizing the instruction count (then the
//! depth). Every subtree knows the range of numbers that can reach it, which
//! often saves one of the two comparisons of a range test.
//!
//! All jumps are forward. Conditional jumps have 8-bit offsets; after layout,
//! a jump whose target is more than 255 instructions away is pointed at a
//! `ja` trampoline (32-bit offset) inserted right behind it, and layout is
//! repeated until every offset fits.

use std::collections::BTreeMap;

use super::{Arch, ArchPlan, ArgCheck, EPERM, RuleAction, SeccompError};

/// The kernel's limit on the length of a classic BPF program.
pub const BPF_MAXINSNS: usize = 4096;

/// One classic BPF instruction, laid out like the kernel's `struct
/// sock_filter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

// Opcodes: class (LD 0x00, ALU 0x04, JMP 0x05, RET 0x06) | operation or
// size | mode or source (W = 0x00, ABS = 0x20, K = 0x00).
pub(super) const LD_W_ABS: u16 = 0x20;
pub(super) const ALU_AND_K: u16 = 0x54;
pub(super) const JMP_JA: u16 = 0x05;
pub(super) const JMP_JEQ_K: u16 = 0x15;
pub(super) const JMP_JGT_K: u16 = 0x25;
pub(super) const JMP_JGE_K: u16 = 0x35;
pub(super) const JMP_JSET_K: u16 = 0x45;
pub(super) const RET_K: u16 = 0x06;

// Return values.
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub(super) const RET_ALLOW: u32 = 0x7fff_0000;

// struct seccomp_data offsets.
pub(super) const OFF_NR: u32 = 0;
pub(super) const OFF_ARCH: u32 = 4;
pub(super) const OFF_ARGS: u32 = 16;

/// `__X32_SYSCALL_BIT`.
pub(super) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Most segments a linear chain may test, to bound the depth.
const MAX_CHAIN: usize = 4;

/// The seccomp return value of `action`.
pub(super) fn ret_value(action: RuleAction) -> u32 {
    match action {
        RuleAction::Errno(errno) => RET_ERRNO | u32::from(errno),
        RuleAction::Kill => RET_KILL_PROCESS,
        RuleAction::Log => RET_LOG,
        RuleAction::Notify => RET_USER_NOTIF,
    }
}

/// The action actually compiled: in log-only mode every deny becomes `Log`,
/// except `errno(ENOSYS)`, which is a compatibility answer (clone3), not a
/// denial, and `Notify`, which is no denial either.
pub(super) fn effective(action: RuleAction, log_only: bool) -> RuleAction {
    match action {
        RuleAction::Errno(super::ENOSYS) | RuleAction::Notify => action,
        _ if log_only => RuleAction::Log,
        _ => action,
    }
}

/// Compiles `plan` into a seccomp program for `plan.arch`. Pure: any
/// architecture can be compiled on any host.
///
/// [`super::plan`] compiles every architecture once and reports failures, so
/// this cannot fail for a plan it produced. Should generation nevertheless
/// fail (a plan assembled by hand that breaks an invariant), the result is a
/// fail-closed one-instruction program that kills on every syscall.
pub fn compile(plan: &ArchPlan, log_only: bool) -> Vec<SockFilter> {
    try_compile(plan, log_only).unwrap_or_else(|_| {
        vec![SockFilter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: RET_KILL_PROCESS,
        }]
    })
}

/// Where a syscall number leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// A return value.
    Ret(u32),
    /// The argument block with this index.
    Block(usize),
}

/// Consecutive syscall numbers `lo..=hi` with the same target.
#[derive(Debug, Clone, Copy)]
struct Segment {
    lo: u32,
    hi: u32,
    target: Target,
}

/// The argument checks of one syscall: `(check, return value)` in order,
/// then `fallthrough` when none matched.
struct Block<'a> {
    checks: Vec<(&'a ArgCheck, u32)>,
    fallthrough: u32,
}

pub(super) fn try_compile(
    plan: &ArchPlan,
    log_only: bool,
) -> Result<Vec<SockFilter>, SeccompError> {
    let mut by_nr: BTreeMap<u32, Vec<(Option<&ArgCheck>, u32)>> = BTreeMap::new();
    for rule in &plan.rules {
        let ret = ret_value(effective(rule.verdict, log_only));
        by_nr
            .entry(rule.nr)
            .or_default()
            .push((rule.check.as_ref(), ret));
    }

    let mut blocks: Vec<Block<'_>> = Vec::new();
    let mut segments: Vec<Segment> = Vec::new();
    for (&nr, rules) in &by_nr {
        // Rules after the first unconditional one can never match.
        let (conditional, fallthrough) = match rules.iter().position(|(c, _)| c.is_none()) {
            Some(i) => (
                rules.get(..i).unwrap_or_default(),
                rules.get(i).map_or(RET_ALLOW, |&(_, r)| r),
            ),
            None => (rules.as_slice(), RET_ALLOW),
        };
        let target = if conditional.is_empty() {
            Target::Ret(fallthrough)
        } else {
            blocks.push(Block {
                checks: conditional
                    .iter()
                    .filter_map(|&(c, r)| c.map(|c| (c, r)))
                    .collect(),
                fallthrough,
            });
            Target::Block(blocks.len() - 1)
        };
        if target == Target::Ret(RET_ALLOW) {
            continue;
        }
        match segments.last_mut() {
            Some(last)
                if matches!(target, Target::Ret(_))
                    && last.target == target
                    && last.hi.checked_add(1) == Some(nr) =>
            {
                last.hi = nr;
            }
            _ => segments.push(Segment {
                lo: nr,
                hi: nr,
                target,
            }),
        }
    }

    let mut asm = Asm::default();
    let mut rets: BTreeMap<u32, Label> = BTreeMap::new();
    let allow = ret_label(&mut asm, &mut rets, RET_ALLOW);
    let foreign = ret_label(
        &mut asm,
        &mut rets,
        ret_value(effective(RuleAction::Kill, log_only)),
    );
    let block_labels: Vec<Label> = blocks.iter().map(|_| asm.label()).collect();
    let kill = ret_label(&mut asm, &mut rets, RET_KILL_PROCESS);
    let mut targets = Targets {
        allow,
        kill,
        blocks: block_labels.clone(),
        rets,
    };

    // Prefix: architecture and x32 checks.
    let arch_ok = asm.label();
    asm.stmt(LD_W_ABS, OFF_ARCH);
    asm.jump(JMP_JEQ_K, plan.arch.audit_arch(), arch_ok, foreign);
    asm.place(arch_ok);
    asm.stmt(LD_W_ABS, OFF_NR);

    let tree = Tree::plan(&segments);
    if plan.arch == Arch::X86_64 {
        let x32 = targets.ret(
            &mut asm,
            ret_value(effective(RuleAction::Errno(EPERM), log_only)),
        );
        let root = asm.label();
        asm.jump(JMP_JSET_K, X32_SYSCALL_BIT, x32, root);
        asm.place(root);
    }
    let before = asm.items.len();
    let entry = tree.emit(&mut asm, &mut targets, &segments, 0, segments.len());
    if asm.items.len() == before {
        // The tree needed no test at all (e.g. no rules).
        asm.jump_always(entry);
    }

    for (block, label) in blocks.iter().zip(block_labels) {
        asm.place(label);
        emit_block(&mut asm, &mut targets, block);
    }

    // Shared returns, those that are used; the program always ends with one
    // (the foreign-architecture jump uses one).
    let used = asm.referenced();
    for (&value, &label) in &targets.rets {
        if used.contains(&label.0) {
            asm.place(label);
            asm.stmt(RET_K, value);
        }
    }
    let prog = asm.finish()?;
    if prog.is_empty() {
        return Err(SeccompError::EmptyProgram);
    }
    Ok(prog)
}

fn ret_label(asm: &mut Asm, rets: &mut BTreeMap<u32, Label>, value: u32) -> Label {
    *rets.entry(value).or_insert_with(|| asm.label())
}

/// Jump targets shared by the whole program.
struct Targets {
    allow: Label,
    kill: Label,
    blocks: Vec<Label>,
    rets: BTreeMap<u32, Label>,
}

impl Targets {
    fn ret(&mut self, asm: &mut Asm, value: u32) -> Label {
        ret_label(asm, &mut self.rets, value)
    }

    fn of(&mut self, asm: &mut Asm, target: Target) -> Label {
        match target {
            Target::Ret(value) => self.ret(asm, value),
            // Block labels are created up front, one per block; fail closed
            // should that ever not hold.
            Target::Block(i) => self.blocks.get(i).copied().unwrap_or(self.kill),
        }
    }
}

/// How one segment is tested inside a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    /// The segment is the whole reachable range: no test.
    Cover,
    /// `jeq lo`.
    Point,
    /// First of the chain and starting at the lower bound: `jgt hi`.
    UpTo,
    /// Last of the chain and ending at the upper bound: `jge lo`.
    From,
    /// `jge lo` then `jgt hi`.
    Range,
}

impl Test {
    fn cost(self) -> u32 {
        match self {
            Test::Cover => 0,
            Test::Point | Test::UpTo | Test::From => 1,
            Test::Range => 2,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Choice {
    Chain,
    Split(usize),
}

/// The decision tree over the segments.
///
/// Every test of the tree is either one split (`jge`, one instruction) or
/// part of a chain, and a chain's tests depend only on the numbers that can
/// reach it (`bounds`), which a split hands down unchanged. So the
/// instruction count of a tree is a property of its partition of the
/// segments into chains alone: the chains' costs plus one split between
/// every two neighbours, whatever the shape of the splits above them. The
/// plan therefore works in two steps:
///
/// 1. The fewest instructions: a shortest path over the boundaries between
///    segments, where a chain of at most [`MAX_CHAIN`] segments is an edge
///    costing its tests plus one split. Linear in the segments.
/// 2. The least depth among those: an interval program over the boundaries
///    that lie on some shortest path only ("tight" ones; a path made of
///    tight chains is a shortest path), choosing per run a tight chain or
///    the split with the least depth, the first one on ties.
///
/// The result is the tree that minimizes (instructions, then depth) over
/// all trees, with the same tie-breaking as a full interval program over
/// every run of segments (cubic in the segments: it was most of a launch's
/// compile time), which the tests keep as the reference.
struct Tree {
    /// Segment indices of the tight boundaries, ascending (`0` and `n`
    /// included).
    at: Vec<usize>,
    /// The choice for every run between two tight boundaries, by position
    /// in `at` (`p * at.len() + q`).
    choice: Vec<Choice>,
}

impl Tree {
    fn plan(segments: &[Segment]) -> Tree {
        let n = segments.len();
        // The cost of every chain that may be used, `segments[i..i + len]`
        // at `i * MAX_CHAIN + len - 1`, computed once.
        let costs: Vec<u32> = (0..n)
            .flat_map(|i| (1..=MAX_CHAIN).map(move |len| (i, len)))
            .map(|(i, len)| {
                if i + len <= n {
                    chain_cost(segments, i, i + len)
                } else {
                    u32::MAX / 4
                }
            })
            .collect();
        let chain = |i: usize, j: usize| match j.checked_sub(i) {
            Some(len @ 1..=MAX_CHAIN) => costs
                .get(i * MAX_CHAIN + len - 1)
                .copied()
                .unwrap_or(u32::MAX / 4),
            _ => u32::MAX / 4,
        };
        // pre[j]: fewest instructions (plus one) for `segments[..j]`;
        // suf[i]: the same for `segments[i..]`.
        let mut pre = vec![u32::MAX; n + 1];
        let mut suf = vec![u32::MAX; n + 1];
        if let Some(p) = pre.first_mut() {
            *p = 0;
        }
        if let Some(s) = suf.last_mut() {
            *s = 0;
        }
        for j in 1..=n {
            let best = (j.saturating_sub(MAX_CHAIN)..j)
                .map(|i| {
                    pre.get(i)
                        .copied()
                        .unwrap_or(u32::MAX)
                        .saturating_add(chain(i, j) + 1)
                })
                .min()
                .unwrap_or(u32::MAX);
            if let Some(p) = pre.get_mut(j) {
                *p = best;
            }
        }
        for i in (0..n).rev() {
            let best = (i + 1..=(i + MAX_CHAIN).min(n))
                .map(|j| {
                    suf.get(j)
                        .copied()
                        .unwrap_or(u32::MAX)
                        .saturating_add(chain(i, j) + 1)
                })
                .min()
                .unwrap_or(u32::MAX);
            if let Some(s) = suf.get_mut(i) {
                *s = best;
            }
        }
        let total = suf.first().copied().unwrap_or(0);
        let at: Vec<usize> = (0..=n)
            .filter(|&b| {
                pre.get(b)
                    .zip(suf.get(b))
                    .is_some_and(|(p, s)| p.saturating_add(*s) == total)
            })
            .collect();
        let tight = |i: usize, j: usize| {
            j - i <= MAX_CHAIN
                && pre.get(i).zip(suf.get(j)).is_some_and(|(p, s)| {
                    p.saturating_add(chain(i, j) + 1).saturating_add(*s) == total
                })
        };

        // Depth of the best tree for every run between tight boundaries,
        // shortest runs first. Every run between two tight boundaries has a
        // tree made of tight chains (a shortest path passes through both).
        // Depths are kept by row (`p * m + q`) and by column (`q * m + p`)
        // so that the split loop reads two contiguous slices.
        let m = at.len();
        let mut by_row = vec![u32::MAX; m * m];
        let mut by_col = vec![u32::MAX; m * m];
        let mut choice = vec![Choice::Chain; m * m];
        for len in 1..m {
            for p in 0..m - len {
                let q = p + len;
                let (i, j) = (
                    at.get(p).copied().unwrap_or(0),
                    at.get(q).copied().unwrap_or(0),
                );
                let mut best = (u32::MAX, Choice::Chain);
                if tight(i, j) {
                    best = (chain(i, j), Choice::Chain);
                }
                // Splits at `r` in `p + 1..q`: left `p..r`, right `r..q`;
                // the first least depth wins.
                let left = by_row.get(p * m + p + 1..p * m + q).unwrap_or_default();
                let right = by_col.get(q * m + p + 1..q * m + q).unwrap_or_default();
                let mut split = (u32::MAX, 0usize);
                for (k, (&l, &r)) in left.iter().zip(right).enumerate() {
                    let d = l.max(r).saturating_add(1);
                    if d < split.0 {
                        split = (d, k);
                    }
                }
                if split.0 < best.0 {
                    let r = p + 1 + split.1;
                    best = (split.0, Choice::Split(at.get(r).copied().unwrap_or(0)));
                }
                if let Some(slot) = by_row.get_mut(p * m + q) {
                    *slot = best.0;
                }
                if let Some(slot) = by_col.get_mut(q * m + p) {
                    *slot = best.0;
                }
                if let Some(slot) = choice.get_mut(p * m + q) {
                    *slot = best.1;
                }
            }
        }
        Tree { at, choice }
    }

    fn get(&self, i: usize, j: usize) -> Option<Choice> {
        let p = self.at.binary_search(&i).ok()?;
        let q = self.at.binary_search(&j).ok()?;
        self.choice.get(p * self.at.len() + q).copied()
    }

    /// Emits the subtree for `segments[i..j]`; returns its entry label, which
    /// is a target label directly when no test is needed.
    fn emit(
        &self,
        asm: &mut Asm,
        t: &mut Targets,
        segments: &[Segment],
        i: usize,
        j: usize,
    ) -> Label {
        if i >= j {
            return t.allow;
        }
        match self.get(i, j) {
            Some(Choice::Split(s)) => {
                let here = asm.label();
                asm.place(here);
                let slot = asm.jump(
                    JMP_JGE_K,
                    segments.get(s).map_or(0, |g| g.lo),
                    t.allow,
                    t.allow,
                );
                let left = self.emit(asm, t, segments, i, s);
                let right = self.emit(asm, t, segments, s, j);
                asm.patch(slot, right, left);
                here
            }
            _ => emit_chain(asm, t, segments, i, j),
        }
    }
}

/// The numbers that can reach the subtree for `segments[i..j]`.
fn bounds(segments: &[Segment], i: usize, j: usize) -> (u32, u32) {
    let lo = if i == 0 {
        0
    } else {
        segments.get(i).map_or(0, |s| s.lo)
    };
    let hi = segments.get(j).map_or(u32::MAX, |s| s.lo.saturating_sub(1));
    (lo, hi)
}

fn test_for(seg: &Segment, first: bool, last: bool, lo: u32, hi: u32) -> Test {
    if first && last && seg.lo == lo && seg.hi == hi {
        Test::Cover
    } else if seg.lo == seg.hi {
        Test::Point
    } else if first && seg.lo == lo {
        Test::UpTo
    } else if last && seg.hi == hi {
        Test::From
    } else {
        Test::Range
    }
}

fn chain_cost(segments: &[Segment], i: usize, j: usize) -> u32 {
    let (lo, hi) = bounds(segments, i, j);
    (i..j)
        .filter_map(|k| {
            segments
                .get(k)
                .map(|s| test_for(s, k == i, k + 1 == j, lo, hi).cost())
        })
        .sum()
}

fn emit_chain(asm: &mut Asm, t: &mut Targets, segments: &[Segment], i: usize, j: usize) -> Label {
    let (lo, hi) = bounds(segments, i, j);
    if let (Some(seg), true) = (segments.get(i), j == i + 1) {
        if test_for(seg, true, true, lo, hi) == Test::Cover {
            return t.of(asm, seg.target);
        }
    }
    let entry = asm.label();
    asm.place(entry);
    for k in i..j {
        let Some(seg) = segments.get(k) else { break };
        let target = t.of(asm, seg.target);
        let last = k + 1 == j;
        let next = if last { t.allow } else { asm.label() };
        match test_for(seg, k == i, last, lo, hi) {
            // Handled above: only possible for a single-segment chain.
            Test::Cover => return target,
            Test::Point => {
                asm.jump(JMP_JEQ_K, seg.lo, target, next);
            }
            Test::UpTo => {
                asm.jump(JMP_JGT_K, seg.hi, next, target);
            }
            // Below `lo` nothing later in the chain can match either.
            Test::From => {
                asm.jump(JMP_JGE_K, seg.lo, target, t.allow);
            }
            Test::Range => {
                let inside = asm.label();
                asm.jump(JMP_JGE_K, seg.lo, inside, t.allow);
                asm.place(inside);
                asm.jump(JMP_JGT_K, seg.hi, next, target);
            }
        }
        if !last {
            asm.place(next);
        }
    }
    entry
}

/// What the accumulator holds: `low32(args[arg]) & mask`, or unknown.
type AccState = Option<(u8, u32)>;

fn emit_block(asm: &mut Asm, t: &mut Targets, block: &Block<'_>) {
    let fallthrough = t.ret(asm, block.fallthrough);
    let mut state: AccState = None;
    let count = block.checks.len();
    for (idx, &(check, ret)) in block.checks.iter().enumerate() {
        let matched = t.ret(asm, ret);
        let last = idx + 1 == count;
        let next = if last { fallthrough } else { asm.label() };
        let (_, on_false) = emit_check(asm, check, matched, next, state);
        if !last {
            asm.place(next);
        }
        state = on_false;
    }
}

/// Emits `check`, jumping to `yes` or `no`; returns the accumulator state on
/// each of the two exits (`None` when the exits disagree).
fn emit_check(
    asm: &mut Asm,
    check: &ArgCheck,
    yes: Label,
    no: Label,
    state: AccState,
) -> (AccState, AccState) {
    match check {
        ArgCheck::AnyBits { arg, mask } => {
            let s = load(asm, *arg, u32::MAX, state);
            asm.jump(JMP_JSET_K, *mask, yes, no);
            (s, s)
        }
        ArgCheck::In { arg, mask, values } => emit_in(asm, *arg, *mask, values, yes, no, state),
        ArgCheck::NotIn { arg, mask, values } => {
            let (on_no, on_yes) = emit_in(asm, *arg, *mask, values, no, yes, state);
            (on_yes, on_no)
        }
        ArgCheck::All(checks) => {
            let mut on_no: Option<AccState> = None;
            let mut s = state;
            let count = checks.len();
            for (idx, c) in checks.iter().enumerate() {
                let last = idx + 1 == count;
                let next = if last { yes } else { asm.label() };
                let (y, n) = emit_check(asm, c, next, no, s);
                on_no = Some(merge(on_no, n));
                if !last {
                    asm.place(next);
                }
                s = y;
            }
            if count == 0 {
                asm.jump_always(yes);
            }
            (s, on_no.unwrap_or(s))
        }
    }
}

fn merge(a: Option<AccState>, b: AccState) -> AccState {
    match a {
        None => b,
        Some(a) if a == b => a,
        Some(_) => None,
    }
}

/// `(A & mask) in values ? yes : no`.
fn emit_in(
    asm: &mut Asm,
    arg: u8,
    mask: u32,
    values: &[u32],
    yes: Label,
    no: Label,
    state: AccState,
) -> (AccState, AccState) {
    // A value with bits outside the mask can never be equal to `A & mask`.
    let values: Vec<u32> = values.iter().copied().filter(|v| v & !mask == 0).collect();
    if values.is_empty() {
        asm.jump_always(no);
        return (state, state);
    }
    let s = load(asm, arg, mask, state);
    let count = values.len();
    for (idx, &value) in values.iter().enumerate() {
        if idx + 1 == count {
            asm.jump(JMP_JEQ_K, value, yes, no);
        } else {
            let next = asm.label();
            asm.jump(JMP_JEQ_K, value, yes, next);
            asm.place(next);
        }
    }
    (s, s)
}

/// Makes the accumulator hold `low32(args[arg]) & mask`.
fn load(asm: &mut Asm, arg: u8, mask: u32, state: AccState) -> AccState {
    if state == Some((arg, mask)) {
        return state;
    }
    if state != Some((arg, u32::MAX)) {
        asm.stmt(LD_W_ABS, OFF_ARGS + 8 * u32::from(arg));
    }
    if mask != u32::MAX {
        asm.stmt(ALU_AND_K, mask);
    }
    Some((arg, mask))
}

/// A jump target, resolved at assembly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Label(usize);

#[derive(Debug, Clone, Copy)]
enum Item {
    Place(Label),
    Stmt {
        code: u16,
        k: u32,
    },
    Jump {
        code: u16,
        k: u32,
        jt: Label,
        jf: Label,
    },
    Always(Label),
}

/// A tiny assembler with symbolic forward labels.
#[derive(Default)]
struct Asm {
    items: Vec<Item>,
    labels: usize,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    fn place(&mut self, label: Label) {
        self.items.push(Item::Place(label));
    }

    fn stmt(&mut self, code: u16, k: u32) {
        self.items.push(Item::Stmt { code, k });
    }

    /// Conditional jump; returns its index for [`Asm::patch`].
    fn jump(&mut self, code: u16, k: u32, jt: Label, jf: Label) -> usize {
        self.items.push(Item::Jump { code, k, jt, jf });
        self.items.len() - 1
    }

    fn patch(&mut self, index: usize, jt: Label, jf: Label) {
        if let Some(Item::Jump { jt: t, jf: f, .. }) = self.items.get_mut(index) {
            *t = jt;
            *f = jf;
        }
    }

    fn jump_always(&mut self, target: Label) {
        self.items.push(Item::Always(target));
    }

    /// Labels some jump refers to.
    fn referenced(&self) -> std::collections::BTreeSet<usize> {
        let mut used = std::collections::BTreeSet::new();
        for item in &self.items {
            match *item {
                Item::Jump { jt, jf, .. } => {
                    used.insert(jt.0);
                    used.insert(jf.0);
                }
                Item::Always(target) => {
                    used.insert(target.0);
                }
                Item::Place(_) | Item::Stmt { .. } => {}
            }
        }
        used
    }

    /// Instruction index of every label.
    fn layout(&self) -> Result<Vec<usize>, SeccompError> {
        let mut at = vec![usize::MAX; self.labels];
        let mut pc = 0;
        for item in &self.items {
            match item {
                Item::Place(Label(l)) => {
                    let slot = at
                        .get_mut(*l)
                        .ok_or_else(|| SeccompError::Internal(format!("label {l} out of range")))?;
                    *slot = pc;
                }
                _ => pc += 1,
            }
        }
        Ok(at)
    }

    /// Resolves labels, inserting `ja` trampolines for conditional jumps
    /// farther than 255 instructions.
    fn finish(mut self) -> Result<Vec<SockFilter>, SeccompError> {
        loop {
            let at = self.layout()?;
            let offset = |pc: usize, Label(l): Label| -> Result<usize, SeccompError> {
                let target = at.get(l).copied().unwrap_or(usize::MAX);
                if target == usize::MAX {
                    return Err(SeccompError::Internal(format!("label {l} never placed")));
                }
                target
                    .checked_sub(pc + 1)
                    .ok_or_else(|| SeccompError::Internal(format!("backward jump at {pc}")))
            };
            // (item index, trampoline for jt, trampoline for jf)
            let mut far: Vec<(usize, bool, bool)> = Vec::new();
            let mut pc = 0;
            for (index, item) in self.items.iter().enumerate() {
                match *item {
                    Item::Place(_) => continue,
                    Item::Jump { jt, jf, .. } => {
                        let t = offset(pc, jt)? > usize::from(u8::MAX);
                        let f = offset(pc, jf)? > usize::from(u8::MAX);
                        if t || f {
                            far.push((index, t, f));
                        }
                    }
                    Item::Always(target) => {
                        offset(pc, target)?;
                    }
                    Item::Stmt { .. } => {}
                }
                pc += 1;
            }
            if far.is_empty() {
                return self.encode(&at);
            }
            // Insert back to front so earlier indices stay valid.
            for &(index, t, f) in far.iter().rev() {
                let Some(Item::Jump { code, k, jt, jf }) = self.items.get(index).copied() else {
                    return Err(SeccompError::Internal(
                        "trampoline for a non-jump".to_owned(),
                    ));
                };
                let mut tail = Vec::new();
                let mut new_jt = jt;
                let mut new_jf = jf;
                if t {
                    new_jt = self.label();
                    tail.extend([Item::Place(new_jt), Item::Always(jt)]);
                }
                if f {
                    new_jf = if t && jf == jt { new_jt } else { self.label() };
                    if new_jf != new_jt {
                        tail.extend([Item::Place(new_jf), Item::Always(jf)]);
                    }
                }
                if let Some(slot) = self.items.get_mut(index) {
                    *slot = Item::Jump {
                        code,
                        k,
                        jt: new_jt,
                        jf: new_jf,
                    };
                }
                let at = index + 1;
                self.items.splice(at..at, tail);
            }
        }
    }

    fn encode(&self, at: &[usize]) -> Result<Vec<SockFilter>, SeccompError> {
        let resolve = |pc: usize, Label(l): Label| -> Result<usize, SeccompError> {
            at.get(l)
                .and_then(|&target| target.checked_sub(pc + 1))
                .ok_or_else(|| SeccompError::Internal(format!("unresolved jump at {pc}")))
        };
        let short = |off: usize| {
            u8::try_from(off).map_err(|_| SeccompError::Internal("jump too far".to_owned()))
        };
        let mut prog = Vec::with_capacity(self.items.len());
        for item in &self.items {
            let pc = prog.len();
            let insn = match *item {
                Item::Place(_) => continue,
                Item::Stmt { code, k } => SockFilter {
                    code,
                    jt: 0,
                    jf: 0,
                    k,
                },
                Item::Jump { code, k, jt, jf } => SockFilter {
                    code,
                    jt: short(resolve(pc, jt)?)?,
                    jf: short(resolve(pc, jf)?)?,
                    k,
                },
                Item::Always(target) => SockFilter {
                    code: JMP_JA,
                    jt: 0,
                    jf: 0,
                    k: u32::try_from(resolve(pc, target)?)
                        .map_err(|_| SeccompError::Internal("jump too far".to_owned()))?,
                },
            };
            prog.push(insn);
        }
        Ok(prog)
    }
}

#[cfg(test)]
mod tree_tests {
    use super::{MAX_CHAIN, Segment, Target, Tree, chain_cost};
    use proptest::prelude::*;

    /// Per run: (instructions, depth) and the split, `None` for a chain.
    type Best = Option<((u32, u32), Option<usize>)>;

    /// The full interval program over every run of segments, cubic in the
    /// segments: for each run the cheapest of a chain (at most
    /// `MAX_CHAIN` segments) and every split, by (instructions, depth), the
    /// chain and then the first split winning ties. `Tree::plan` must choose
    /// exactly as this does.
    fn reference(segments: &[Segment]) -> Vec<Best> {
        let n = segments.len();
        let w = n + 1;
        let mut best: Vec<Best> = vec![None; w * w];
        for len in 1..=n {
            for i in 0..=(n - len) {
                let j = i + len;
                let mut here = None;
                if len <= MAX_CHAIN {
                    let c = chain_cost(segments, i, j);
                    here = Some(((c, c), None));
                }
                for s in i + 1..j {
                    let (Some((l, _)), Some((r, _))) = (best[i * w + s], best[s * w + j]) else {
                        continue;
                    };
                    let cost = (l.0 + r.0 + 1, l.1.max(r.1) + 1);
                    if here.is_none_or(|(b, _)| cost < b) {
                        here = Some((cost, Some(s)));
                    }
                }
                best[i * w + j] = here;
            }
        }
        best
    }

    fn shape_ref(best: &[Best], w: usize, i: usize, j: usize) -> String {
        if i >= j {
            return String::new();
        }
        match best[i * w + j] {
            Some((_, Some(s))) => format!(
                "({} |{s}| {})",
                shape_ref(best, w, i, s),
                shape_ref(best, w, s, j)
            ),
            _ => format!("[{i}..{j}]"),
        }
    }

    fn shape(tree: &Tree, i: usize, j: usize) -> String {
        if i >= j {
            return String::new();
        }
        match tree.get(i, j) {
            Some(super::Choice::Split(s)) => {
                format!("({} |{s}| {})", shape(tree, i, s), shape(tree, s, j))
            }
            _ => format!("[{i}..{j}]"),
        }
    }

    /// Segments from (gap before, length - 1, point or range target).
    fn segments(spec: &[(u32, u32, u8)]) -> Vec<Segment> {
        let mut out = Vec::new();
        let mut next = 0u32;
        for &(gap, extra, t) in spec {
            let lo = next + gap;
            let hi = lo + extra;
            out.push(Segment {
                lo,
                hi,
                target: Target::Ret(u32::from(t)),
            });
            next = hi + 1;
        }
        out
    }

    fn same_as_reference(segs: &[Segment]) -> Result<(), String> {
        let n = segs.len();
        let best = reference(segs);
        let tree = Tree::plan(segs);
        let (want, got) = (shape_ref(&best, n + 1, 0, n), shape(&tree, 0, n));
        if want == got {
            Ok(())
        } else {
            Err(format!("{n} segments\nreference {want}\nplanned   {got}"))
        }
    }

    #[test]
    fn the_tree_is_the_reference_tree_for_dense_and_sparse_numbers() {
        // Every segment adjacent (gap 0, shared bounds), every one a point,
        // ranges, and a mix: the cases that make chain tests cheaper.
        let cases: Vec<Vec<(u32, u32, u8)>> = vec![
            vec![],
            vec![(0, 0, 1)],
            (0..70).map(|k| (k % 3, k % 2, (k % 4) as u8)).collect(),
            (0..70).map(|_| (1, 0, 1)).collect(),
            (0..64).map(|k| (0, k % 5, (k % 2) as u8)).collect(),
            (0..90)
                .map(|k| ((k * 7) % 4, (k * 5) % 3, (k % 3) as u8))
                .collect(),
        ];
        for c in cases {
            if let Err(e) = same_as_reference(&segments(&c)) {
                panic!("{e}");
            }
        }
    }

    proptest! {
        #[test]
        fn the_tree_is_the_reference_tree(
            spec in proptest::collection::vec((0u32..3, 0u32..3, 0u8..3), 0..48)
        ) {
            let segs = segments(&spec);
            prop_assert!(same_as_reference(&segs).is_ok(), "{}", same_as_reference(&segs).err().unwrap_or_default());
        }
    }
}
