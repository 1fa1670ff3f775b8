"""``mgd-sam2 app``: cut objects out of images in the browser (Gradio), with predict's own code."""
