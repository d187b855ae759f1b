include!("../grace-nn/build_rpath.rs");

fn main() {
    link_libtorch();
}
