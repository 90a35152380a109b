"""Data: raw dataset layouts -> per-video records -> sharded TFRecords -> tf.data pipelines."""
