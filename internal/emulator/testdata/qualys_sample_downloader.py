# Qualys's sample downloader for the Policy Compliance Streaming Posture API
# (the first script of ../../../../shared/seeds/qualys-pcrs-streaming-posture-api.txt
# in the project's shared folder), with its slips mended and nothing else
# changed but where the URL, credentials and policy id come from:
#   - the credentials dict was commented out; it is set from the environment
#   - '%.2fm'%size/1048576 divided the string; the size is parenthesised
#   - handlerError(size. e) is handlerError(size, e)
#   - ProtocolError was never imported, and caught after Exception
#   - postureStream.close was never called
#   - the script exits non-zero when the API answers an error
# verify=False stays: it is what the sample does (pcsync itself verifies).
import os
import requests
from requests.exceptions import Timeout
from urllib3.exceptions import ProtocolError
import json
import datetime
import time
import sys
import zlib

base = os.environ["GATEWAY_URL"]
policy_id = os.environ["POLICY_ID"]
output = os.environ.get("OUTPUT", "output.json")


# Function to handle various errors
def handlerError(size, error):
    print('Total size downloaded %.2fm' % (size / 1048576))  # Print total data downloaded in MBs
    print(type(error))
    print(error.args)
    print(error)
    sys.exit(1)


# First authenticate the user to get the token needed for subsequent API calls
headers = {'Content-Type': 'application/x-www-form-urlencoded'}
authUrl = base + '/auth'
data = {'username': os.environ["QUALYS_USERNAME"], 'password': os.environ["QUALYS_PASSWORD"], 'token': 'true'}
authResp = requests.post(authUrl, data=data, headers=headers, verify=False)
token = authResp.content.decode('utf-8')
# Use the token returned by the authentication call
# Retrieve the host IDs associated with the particular policy
headers = {
    'accept': 'application/json',
    'Authorization': 'Bearer ' + token}
params = {'policyId': policy_id}  # pass multiple policy IDs as comma-separated list
url = base + '/pcrs/1.0/posture/hostids'
response = requests.get(url, params=params, headers=headers, verify=False)
# check the response of host IDs API
if (response.status_code != 200):
    print("Unexpected response from hostids API: ")
    print(response.status_code)
    sys.exit(1)
# Pass the host IDs retrieved in the previous APIs to posture info API
headers = {
    'accept': 'application/json',
    'Authorization': 'Bearer ' + token,
    'Content-Type': 'application/json'}
postureUrl = base + '/pcrs/1.0/posture/postureInfo?evidenceRequired=1&compressionRequired=1'
# If compression is used and you want to decompress the data on the fly
d = zlib.decompressobj(16 + zlib.MAX_WBITS)
with open(output, 'w') as f:  # If compression is used and decompressing on the fly or no compression used
    print('API Invoked at:')
    print(datetime.datetime.now())
    size = 0.0
    try:
        with requests.post(url=postureUrl, headers=headers, data=response.content, stream=True, timeout=3600, verify=False) as postureStream:
            if (postureStream.status_code != 200):
                print("Unexpected response from posture API: ")
                print(postureStream.status_code)
                sys.exit(1)
            print('First response received at: ')
            start = time.time()
            print(datetime.datetime.now())
            for chunk in postureStream.iter_content(chunk_size=1048576):
                if chunk:
                    chunk_size = len(chunk)
                    end = time.time() + 1
                    outstr = d.decompress(chunk)  # If compression is not used or storing zip file, please comment this line
                    size += len(outstr)
                    print('Download speed: [%.2fkbps], Chunk size: [%.2fk], total size: [%.2fm] at time %s' % ((size / (end - start)) / 1024,
                          chunk_size / 1024, size / 1048576, datetime.datetime.now().strftime("%H:%M:%S")), end="\r")
                    f.write(outstr.decode())
                    f.flush()
            postureStream.close()
        f.flush()
        print('\nAPI finished at')
        print(datetime.datetime.now())
    except ProtocolError as pe:
        handlerError(size, pe)
    except Exception as e:
        handlerError(size, e)
