import torch

from gencoop.testing import load_hypothesis_profile

load_hypothesis_profile()  # gencoop's "ci"/"dev" profiles, chosen by $HYPOTHESIS_PROFILE
torch.set_num_threads(1)
