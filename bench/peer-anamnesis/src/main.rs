//! Times anamnesis's GGUF dequantisation (`dequantize_gguf_blocks::<Bf16Out | F32Out>`, its
//! streaming kernel entry point) for every block type of shared/fixtures/ggml/all_types.gguf,
//! tiled to `--elems` elements (4096 × 11008 by default), on one thread and on all threads (the
//! tensor split into one part per thread; anamnesis itself parallelises across tensors, not
//! within one). Each block is copied into an output buffer that is reused across runs, as
//! amn-bench-kernels does. Prints a Markdown table of medians in Gelem/s.
//!
//! usage: peer-anamnesis FIXTURE [--reps N] [--elems N] [--only NAME,...]
use anamnesis::{dequantize_gguf_blocks, parse_gguf, Bf16Out, F32Out, GgufType, OutputElement};
use std::time::Instant;

fn median_seconds(reps: usize, mut work: impl FnMut()) -> f64 {
    work();
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Dequantises `input` (whole blocks of `dtype`) into `output` with one part per thread.
fn run<E: OutputElement>(input: &[u8], dtype: GgufType, threads: usize, output: &mut [u8]) {
    let block_bytes = dtype.type_size().expect("block type");
    let per_thread = (input.len() / block_bytes).div_ceil(threads);
    let out_per_thread = per_thread * dtype.block_size() * E::BYTES;
    std::thread::scope(|scope| {
        for (part, out) in input.chunks(per_thread * block_bytes).zip(output.chunks_mut(out_per_thread)) {
            let elems = part.len() / block_bytes * dtype.block_size();
            scope.spawn(move || {
                let mut offset = 0;
                dequantize_gguf_blocks::<E, _>(part, dtype, elems, |block| {
                    out[offset..offset + block.len()].copy_from_slice(block);
                    offset += block.len();
                    Ok(())
                })
                .expect("dequantize");
            });
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let fixture = &args[1];
    let mut reps = 7;
    let mut elems: usize = 4096 * 11008;
    let mut only: Vec<String> = Vec::new();
    for pair in args[2..].chunks(2) {
        match pair[0].as_str() {
            "--reps" => reps = pair[1].parse().expect("--reps N"),
            "--elems" => elems = pair[1].parse().expect("--elems N"),
            "--only" => only = pair[1].split(',').map(str::to_owned).collect(),
            other => panic!("unknown option {other}"),
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = parse_gguf(fixture).expect("parse fixture");
    let mut output = vec![1u8; elems * 4];
    println!("anamnesis 0.7.10, shape {elems} elements, {threads} threads, median of {reps}\n");
    println!("| kernel | out | 1 thread Gelem/s | {threads} threads Gelem/s |");
    println!("| --- | --- | ---: | ---: |");
    for tensor in model.tensors() {
        let dtype = tensor.dtype;
        let name = format!("{dtype:?}");
        if dtype.block_size() == 1 || (!only.is_empty() && !only.contains(&name)) {
            continue;
        }
        let block_bytes = dtype.type_size().expect("block type");
        let size = elems / dtype.block_size() * block_bytes;
        let pattern = tensor.data.as_ref();
        let input: Vec<u8> = pattern.iter().copied().cycle().take(size).collect();
        let count = (size / block_bytes * dtype.block_size()) as f64;
        for out in ["BF16", "F32"] {
            let mut timed = |threads: usize| {
                median_seconds(reps, || match out {
                    "BF16" => run::<Bf16Out>(&input, dtype, threads, &mut output),
                    _ => run::<F32Out>(&input, dtype, threads, &mut output),
                })
            };
            let single = count / timed(1) / 1e9;
            let all = count / timed(threads) / 1e9;
            println!("| {name} | {out} | {single:.2} | {all:.2} |");
        }
    }
}
