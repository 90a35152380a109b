"""AffWildNet (Kollias et al. 2019, Tables 12-13): VGG-Face conv + landmarks + FC 4096 + 2xGRU 128.

Not available yet: the model, trainer and data pipeline land with issues #3 and #4. This file
exists so the README's first command runs today and says so plainly.
"""

import sys

if __name__ == "__main__":
    print("recipes/affwildnet.py: the AffWildNet recipe is not available yet "
          "(it lands with issue #4: models, trainer, recipes).", file=sys.stderr)
    sys.exit(0)
