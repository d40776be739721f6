"""gammacore.host"""
