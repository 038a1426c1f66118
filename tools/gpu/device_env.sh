# Sourced by tools/gpu/run_gpu_suite.sh and bench.sh on the device machine: puts .gpu/lib (what
# tools/gpu/pack.sh packed) and the folder of the device's own cuBLAS on LD_LIBRARY_PATH. The
# binaries load libcublas.so.13 (and through it libcublasLt.so.13) dynamically, and pack.sh does
# not copy them (about 600 MB): the device machine has them from its CUDA toolkit or packages, or
# from NVIDIA's Python wheel (CUDA 13 wheels unpack to site-packages/nvidia/cu13/lib; CUDA 12 ones
# to nvidia/cublas/lib, with .so.12 only). Prints where it found them, or what it searched (the
# binaries then fail to start with the loader's own message).
QUANTC_ROOT=${QUANTC_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export LD_LIBRARY_PATH=$QUANTC_ROOT/.gpu/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

# Puts $1 right after .gpu/lib: ahead of the rest, behind our packed libraries (a system folder
# such as /usr/lib/x86_64-linux-gnu must not shadow the Abseil/fmt/protobuf builds we packed).
quantc_add_lib_dir() {
  local rest=${LD_LIBRARY_PATH#"$QUANTC_ROOT/.gpu/lib"}
  export LD_LIBRARY_PATH=$QUANTC_ROOT/.gpu/lib:$1$rest
  echo "cuBLAS: $1/libcublas.so.13"
}

quantc_find_cublas() {
  local want=libcublas.so.13 d sp ldconfig
  ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
  if "$ldconfig" -p 2> /dev/null | grep -q "$want "; then  # the loader finds it without help
    echo "cuBLAS: $("$ldconfig" -p | awk -v w="$want" '$1 == w {print $NF; exit}') (the loader's cache)"
    return 0
  fi
  local candidates=(/usr/local/cuda*/lib64 /usr/local/cuda*/lib /usr/local/cuda*/targets/*/lib
                    /usr/lib/x86_64-linux-gnu /usr/lib64)
  if command -v python3 > /dev/null; then
    for sp in $(python3 -c 'import site, sys; print(" ".join(site.getsitepackages() + [site.getusersitepackages()] + sys.path))' 2> /dev/null); do
      candidates+=("$sp/nvidia/cu13/lib" "$sp/nvidia/cublas/lib")
    done
  fi
  for d in "${candidates[@]}"; do
    if [[ -e $d/$want ]]; then
      quantc_add_lib_dir "$d"
      return 0
    fi
  done
  # Last resort: anywhere under the usual prefixes (bounded depth).
  d=$(find /usr /opt /root /home -maxdepth 8 -name "$want" -print -quit 2> /dev/null)
  if [[ -n $d ]]; then
    quantc_add_lib_dir "$(dirname "$d")"
    return 0
  fi
  echo "cuBLAS: no $want in the loader's cache, the CUDA folders, /usr/lib or Python's nvidia packages" >&2
  return 1
}
quantc_find_cublas || true
