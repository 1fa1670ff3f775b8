"""The MGD-SAM2 network as plain nn.Modules, one file per box of the paper's figure: the Hiera encoder with an
MPAdapter before every block (encoder.py, mpadapter.py), the prompt-free SAM2 mask decoder (decoder.py) with MCEM
(mcem.py) and two HMIMs (hmim.py), and DRM (drm.py); multi_view.py lays the global and local views out."""

from mgd_sam2.utils.lazy import lazy_exports

PUBLIC = {
    "MGDSAM2": "mgd_sam2.models.network",
    "MGDSAM2Output": "mgd_sam2.models.network",
    "NetworkConfig": "mgd_sam2.models.network",
    "Views": "mgd_sam2.models.multi_view",
    "AdaptedImageEncoder": "mgd_sam2.models.encoder",
    "MPAdapter": "mgd_sam2.models.mpadapter",
    "PromptFreeMaskDecoder": "mgd_sam2.models.decoder",
    "MCEM": "mgd_sam2.models.mcem",
    "HMIM": "mgd_sam2.models.hmim",
    "DetailRefinement": "mgd_sam2.models.drm",
}
__all__ = list(PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, PUBLIC)
