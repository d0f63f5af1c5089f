fn main() {
    let code = openshell_sandbox::main_with_args(std::env::args_os().skip(1).collect());
    std::process::exit(code);
}
