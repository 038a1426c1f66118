# Sourced by tools/gpu/*.sh: convert_args TYPE sets args=(...) for `quantc convert --format gguf`.
# MXFP4 means every linear layer of the blocks in MXFP4 (as fp4-pack(tensors=linear) would), the
# embedding and output Q8_0 (llama.cpp's MXFP4_MOE keeps its non-expert tensors Q8_0 too).
convert_args() {
  case $1 in
    MXFP4) args=(--type Q8_0 --override 'blk\..*=MXFP4') ;;
    *) args=(--type "$1") ;;
  esac
}
