/// See `alloc.rs`: musl's malloc maps and unmaps memory on nearly every
/// allocation pattern a launch has.
#[global_allocator]
static ALLOC: openshell_sandbox::alloc::Arena<{ 1 << 20 }> = openshell_sandbox::alloc::Arena::new();

fn main() {
    let code = openshell_sandbox::main_with_args(std::env::args_os().skip(1).collect());
    std::process::exit(code);
}
