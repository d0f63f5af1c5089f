//! A classic BPF interpreter and static checker for seccomp programs, used by
//! the tests only. It follows the kernel's rules: the program is 1..=4096
//! instructions, ends in a return, every jump lands inside the program, and
//! absolute loads read aligned words of `struct seccomp_data`.

use super::SockFilter;
use super::bpf::{ALU_AND_K, JMP_JA, JMP_JEQ_K, JMP_JGE_K, JMP_JGT_K, JMP_JSET_K, LD_W_ABS, RET_K};

/// `struct seccomp_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeccompData {
    pub nr: u32,
    pub arch: u32,
    pub ip: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    /// The in-memory image on a little-endian machine.
    fn bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[0..4].copy_from_slice(&self.nr.to_le_bytes());
        out[4..8].copy_from_slice(&self.arch.to_le_bytes());
        out[8..16].copy_from_slice(&self.ip.to_le_bytes());
        for (i, arg) in self.args.iter().enumerate() {
            out[16 + 8 * i..24 + 8 * i].copy_from_slice(&arg.to_le_bytes());
        }
        out
    }
}

/// Static checks, as the kernel does them at install time.
pub fn validate(prog: &[SockFilter]) -> Result<(), String> {
    if prog.is_empty() || prog.len() > 4096 {
        return Err(format!("bad program length {}", prog.len()));
    }
    for (pc, insn) in prog.iter().enumerate() {
        let next = pc + 1;
        match insn.code {
            LD_W_ABS => {
                if insn.k % 4 != 0 || insn.k >= 64 {
                    return Err(format!("bad load offset {} at {pc}", insn.k));
                }
            }
            ALU_AND_K | RET_K => {}
            JMP_JA => {
                if next + insn.k as usize >= prog.len() {
                    return Err(format!("ja out of range at {pc}"));
                }
            }
            JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K | JMP_JSET_K => {
                if next + insn.jt as usize >= prog.len() || next + insn.jf as usize >= prog.len() {
                    return Err(format!("conditional jump out of range at {pc}"));
                }
            }
            code => return Err(format!("unsupported opcode {code:#x} at {pc}")),
        }
    }
    match prog.last() {
        Some(insn) if insn.code == RET_K => Ok(()),
        _ => Err("program does not end with a return".to_owned()),
    }
}

/// Runs `prog` on `data`; returns the seccomp return value and the number of
/// instructions executed.
pub fn run(prog: &[SockFilter], data: &SeccompData) -> Result<(u32, usize), String> {
    execute(prog, data, false)?.ok_or_else(|| "unreachable: non-constant load".to_owned())
}

/// What the kernel's action-cache emulation sees: the result for `nr` on
/// `arch` if the path only loads `nr` and `arch`, `None` as soon as it loads
/// anything else (arguments, instruction pointer).
pub fn run_const(prog: &[SockFilter], nr: u32, arch: u32) -> Result<Option<u32>, String> {
    let data = SeccompData {
        nr,
        arch,
        ip: 0,
        args: [0; 6],
    };
    Ok(execute(prog, &data, true)?.map(|(ret, _)| ret))
}

fn execute(
    prog: &[SockFilter],
    data: &SeccompData,
    const_only: bool,
) -> Result<Option<(u32, usize)>, String> {
    let image = data.bytes();
    let mut acc: u32 = 0;
    let mut pc = 0usize;
    let mut steps = 0usize;
    loop {
        let insn = prog
            .get(pc)
            .ok_or_else(|| format!("fell off the program at {pc}"))?;
        steps += 1;
        if steps > prog.len() {
            return Err("more steps than instructions (backward jump?)".to_owned());
        }
        let next = pc + 1;
        pc = match insn.code {
            LD_W_ABS => {
                let k = insn.k as usize;
                if k % 4 != 0 || k + 4 > image.len() {
                    return Err(format!("bad load offset {k}"));
                }
                if const_only && k >= 8 {
                    return Ok(None);
                }
                acc = u32::from_le_bytes([image[k], image[k + 1], image[k + 2], image[k + 3]]);
                next
            }
            ALU_AND_K => {
                acc &= insn.k;
                next
            }
            RET_K => return Ok(Some((insn.k, steps))),
            JMP_JA => next + insn.k as usize,
            JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K | JMP_JSET_K => {
                let taken = match insn.code {
                    JMP_JEQ_K => acc == insn.k,
                    JMP_JGT_K => acc > insn.k,
                    JMP_JGE_K => acc >= insn.k,
                    _ => acc & insn.k != 0,
                };
                next + if taken { insn.jt } else { insn.jf } as usize
            }
            code => return Err(format!("unsupported opcode {code:#x}")),
        };
        if pc >= prog.len() {
            return Err(format!("jump out of the program to {pc}"));
        }
    }
}

/// Disassembles `prog`, for failure messages and curiosity.
pub fn disassemble(prog: &[SockFilter]) -> String {
    let mut out = String::new();
    for (pc, insn) in prog.iter().enumerate() {
        let next = pc + 1;
        let line = match insn.code {
            LD_W_ABS => format!("ld [{}]", insn.k),
            ALU_AND_K => format!("and #{:#x}", insn.k),
            RET_K => format!("ret #{:#x}", insn.k),
            JMP_JA => format!("ja {}", next + insn.k as usize),
            code => {
                let op = match code {
                    JMP_JEQ_K => "jeq",
                    JMP_JGT_K => "jgt",
                    JMP_JGE_K => "jge",
                    JMP_JSET_K => "jset",
                    _ => "???",
                };
                format!(
                    "{op} #{:#x}, {}, {}",
                    insn.k,
                    next + insn.jt as usize,
                    next + insn.jf as usize
                )
            }
        };
        out.push_str(&format!("{pc:4}: {line}\n"));
    }
    out
}
