"""`cosam-reid export`: a trained checkpoint as an ONNX model."""


def add_parser(subparsers):
    help_text = "export a checkpoint to ONNX (standard ops, any number of clips), checked against PyTorch"
    parser = subparsers.add_parser("export", help=help_text, description=help_text)
    parser.add_argument("--checkpoint", required=True, metavar="PATH", help="model checkpoint from `cosam-reid train`")
    parser.add_argument("--output", default="model.onnx", metavar="PATH",
                        help="ONNX file to write (default: %(default)s)")
    parser.add_argument("--no-check", dest="check", action="store_false",
                        help="skip running the exported model in onnxruntime against the checkpoint's model")
    parser.set_defaults(run=run)


def run(args):
    from ..deploy import compare_with_eager, export_onnx
    from ..engine.checkpoint import model_from_checkpoint

    model = model_from_checkpoint(args.checkpoint)
    path = export_onnx(model, args.output)
    print(f"=> ONNX model written to {path}: input 'clips' (B, {model.spec.num_frames}, 3, "
          f"{model.spec.input_size[0]}, {model.spec.input_size[1]}), output 'features' (B, {model.feature_dim})")
    if args.check:
        for clips, difference in compare_with_eager(model, path).items():
            print(f"   onnxruntime vs PyTorch, {clips} clip(s): largest difference {difference:.2e}")
