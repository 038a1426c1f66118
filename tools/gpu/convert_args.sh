# Sourced by tools/gpu/*.sh: convert_args TYPE sets args=(...) for `quantc convert --format gguf`;
# safetensors_args SCHEME for a compressed-tensors safetensors folder.
# MXFP4 means every linear layer of the blocks in MXFP4 (as fp4-pack(tensors=linear) would), the
# embedding and output Q8_0 (llama.cpp's MXFP4_MOE keeps its non-expert tensors Q8_0 too).
convert_args() {
  case $1 in
    MXFP4) args=(--type Q8_0 --override 'blk\..*=MXFP4') ;;
    *) args=(--type "$1") ;;
  esac
}
# An integer scheme (int4-g128, int4-g32-asym, ...) is --type's int-quant (every Linear layer but
# lm_head); mxfp4 / nvfp4 pack every Linear layer but lm_head (--type would pack routed experts
# only, and the dense fixtures have none).
safetensors_args() {
  case $1 in
    mxfp4|nvfp4) args=(--passes "fp4-pack(format=$1,tensors=linear)") ;;
    *) args=(--type "$1") ;;
  esac
}
